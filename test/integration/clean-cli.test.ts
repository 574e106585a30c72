/**
 * `argos <env> clean` as a user runs it, against moto.
 */
import { CreateImageCommand, CreateLaunchTemplateCommand, DescribeImagesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { makeTags, toTagSpecifications } from '../../src/names.js';
import { registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli } from '../support/cli.js';

let clients: AwsClients;
let project: string;
let imageId: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  // An image as a bake leaves it, tagged.
  const instance = await clients.ec2.send(new RunInstancesCommand({ ImageId: 'ami-04681a1dbd79675a5', MinCount: 1, MaxCount: 1 }));
  const image = await clients.ec2.send(
    new CreateImageCommand({
      InstanceId: instance.Instances?.[0]?.InstanceId,
      Name: 'argos-image',
      TagSpecifications: toTagSpecifications(['image'] as const, makeTags({ app: 'argos', group: 'image' }, 'argos-image')),
    }),
  );
  imageId = image.ImageId ?? '';
});
afterAll(() => clients.destroy());

const clean = (...flags: string[]) => runCli(['staging', 'clean', ...flags], { cwd: project, env: fakeAwsEnvironment });

describe('argos <env> clean', () => {
  it('refuses without a terminal and without --yes, deleting nothing', async () => {
    const result = await clean();
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe('argos: refusing to clean staging without confirmation: there is no terminal to ask on; re-run with --yes to confirm');
    expect(result.stdout).toContain(`image argos-image (${imageId})`);
    const images = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(images.Images).toHaveLength(1);
  });

  it('deletes the image and its snapshots with --yes', async () => {
    const result = await clean('--yes');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`deleted: image ${imageId}, snapshots snap-`));
    const images = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(images.Images).toEqual([]);
  });

  it('says there was nothing to delete the second time', async () => {
    const result = await clean('--yes');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('nothing to delete: no argos-image and no leftover bake instance or security group');
  });
});

describe('the image is shared: clean refuses while a launch template uses it', () => {
  let shared: string;

  beforeAll(async () => {
    shared = await registerImage(clients.ec2, 'argos-image');
    // staging is live: its app servers' template launches from the image.
    await clients.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'argos-staging-app-0a1b2c3d',
        LaunchTemplateData: { ImageId: shared, InstanceType: 't3.small' },
        TagSpecifications: toTagSpecifications(['launch-template'] as const, makeTags({ app: 'argos', env: 'staging', group: 'app' }, 'argos-staging-app-0a1b2c3d')),
      }),
    );
  });

  const imageExists = async () => ((await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? []).some((image) => image.ImageId === shared);

  it('prod clean --yes refuses, naming the template and its environment, and deletes nothing', async () => {
    const result = await runCli(['prod', 'clean', '--yes'], { cwd: project, env: fakeAwsEnvironment });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`the image argos-image \\(${shared}\\) is shared by every environment of argos and a launch template uses it \\(environments: staging\\): argos-staging-app-0a1b2c3d \\(lt-[0-9a-f]+, App=argos, Env=staging\\)\\. .*decommission those environments first, or run argos prod clean --force`),
    );
    expect(await imageExists()).toBe(true);
  });

  it('decommission --delete-image of another environment refuses too, before deleting anything', async () => {
    const result = await runCli(['prod', 'decommission', '--delete-image', '--yes'], { cwd: project, env: fakeAwsEnvironment });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/argos-staging-app-0a1b2c3d \(lt-[0-9a-f]+, App=argos, Env=staging\)\. .*or decommission without --delete-image/);
    expect(await imageExists()).toBe(true);
  });

  it('--force deletes it, after listing the templates that still use it', async () => {
    const result = await runCli(['prod', 'clean', '--yes', '--force'], { cwd: project, env: fakeAwsEnvironment });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/still in use by:\n\s+- launch template argos-staging-app-0a1b2c3d \(lt-[0-9a-f]+, App=argos, Env=staging\), which then cannot launch instances/);
    expect(await imageExists()).toBe(false);
  });
});
