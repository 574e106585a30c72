/**
 * Release images against moto (issue 16): commission and deploy run in this
 * process with the real SDK and real command code, Ansible and the SSH wait
 * stubbed at the runtime seam (moto's instances are not machines; the
 * playbooks on real machines are the local cloud's test), so CreateImage,
 * the tags, the launch template and the group are moto's. Then `status`,
 * `rollback` and `decommission` as a user runs them (the built CLI): they need
 * no Ansible.
 */
import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAutoScalingGroup, findLaunchTemplateData } from '../../src/autoscaling.js';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { commission } from '../../src/commands/commission.js';
import { deploy } from '../../src/commands/deploy.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import type { Context } from '../../src/context.js';
import type { parseOptions } from '../../src/options.js';
import type { RecordingReporter } from '../support/recording-reporter.js';
import { runInProcess as runStubbed, type RecordedPlaybookRun } from '../support/in-process.js';
import { createKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli } from '../support/cli.js';

let clients: AwsClients;
let project: string;
let baseImageId: string;
const playbookRuns: RecordedPlaybookRun[] = [];

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  await createKeyPair(clients.ec2, 'argos-test');
  baseImageId = await registerImage(clients.ec2, 'argos-image');
});
afterAll(() => clients.destroy());

const argos = (...args: string[]) => runCli(['staging', ...args], { cwd: project, env: fakeAwsEnvironment, timeout: 120_000 });

/** `argos staging <command>` in this process, with Ansible and the SSH wait stubbed (moto's instances are not machines). */
function runInProcess<C extends 'commission' | 'deploy'>(command: C, flags: Record<string, unknown>, body: (ctx: Context<ReturnType<typeof parseOptions<C>>>) => Promise<void>): Promise<RecordingReporter> {
  return runStubbed(project, command, flags, body, playbookRuns);
}

/** The account's release images of staging, oldest first. */
async function releaseImages() {
  const response = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:Group', Values: ['release'] }, { Name: 'tag:Env', Values: ['staging'] }] }));
  return (response.Images ?? []).filter((image) => image.State !== 'deregistered').sort((a, b) => (a.Name ?? '').localeCompare(b.Name ?? ''));
}

/** The image the app servers' launch template launches from. */
async function liveImageId(): Promise<string | undefined> {
  const group = await findAutoScalingGroup(clients.autoScaling, 'argos-staging-app');
  return (await findLaunchTemplateData(clients.ec2, group?.LaunchTemplate?.LaunchTemplateName ?? ''))?.ImageId;
}

describe('release images on moto', () => {
  let first: string | undefined;
  let second: string | undefined;

  it('commission makes a release image from the base image and launches the group from it', async () => {
    await runInProcess('commission', { minSize: '1', maxSize: '2' }, (ctx) => commission(ctx));
    const images = await releaseImages();
    expect(images).toHaveLength(1);
    const [release] = images;
    first = release?.ImageId;
    expect(release?.Name).toMatch(/^argos-staging-release-\d{8}T\d{6}Z$/);
    const tags = Object.fromEntries((release?.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({ App: 'argos', Env: 'staging', Group: 'release', ManagedBy: 'argos', 'argos:git-ref': 'master', 'argos:release': release?.Name });
    expect(await liveImageId()).toBe(first);
    // site.yml ran twice: on the release build's temporary instance, then on the app server (the deploy)
    expect(playbookRuns.map((run) => run.playbooks.map((path) => path.split('/').at(-1)))).toEqual([['site.yml'], ['site.yml']]);
    // ... and nothing of the build is left
    const status = JSON.parse((await argos('status', '--json')).stdout) as EnvironmentStatus;
    expect(status.drift).toEqual([]);
    expect(status.releases).toEqual([expect.objectContaining({ imageId: first, live: true, gitRef: 'master' })]);
    expect(first).not.toBe(baseImageId);
  });

  it('deploy makes the next release image and points the launch template at it', async () => {
    await runInProcess('deploy', {}, (ctx) => deploy(ctx));
    const images = await releaseImages();
    expect(images).toHaveLength(2);
    second = images.find((image) => image.ImageId !== first)?.ImageId;
    expect(await liveImageId()).toBe(second);
  });

  it('status lists the releases, the live one, and each instance\'s release', async () => {
    const result = await argos('status');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/release image\s+argos-staging-release-\d{8}T\d{6}Z\s+ami-[0-9a-f]+\s+available, live\s+git ref master, created /);
    // Launched from the base image by commission and deployed to in place since (the release image came after).
    expect(result.stdout).toMatch(/app instance .*launched from base image \(no release: the app comes from a deploy\)/);
  });

  it('rollback --dry-run changes nothing; rollback goes back to the previous release and replaces the app servers', async () => {
    const dry = await argos('rollback', '--dry-run');
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('dry run: nothing was changed');
    expect(await liveImageId()).toBe(second);
    const refused = await argos('rollback');
    expect(refused.exitCode).toBe(2); // no terminal to confirm on, no --yes
    expect(await liveImageId()).toBe(second);
    const result = await argos('rollback', '--yes');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/staging runs argos-staging-release-\d{8}T\d{6}Z \(ami-[0-9a-f]+, git ref master\); replaced 1 app server\(s\)\./);
    expect(await liveImageId()).toBe(first);
    // ... its app server replaced by one launched from that release
    expect((await argos('status')).stdout).toMatch(/app instance .*launched from release argos-staging-release-\d{8}T\d{6}Z/);
  });

  it('rollback --to an unknown release, or to the live one, is refused with the list of releases', async () => {
    const unknown = await argos('rollback', '--yes', '--to', 'argos-staging-release-19990101T000000Z');
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/argos-staging-release-19990101T000000Z is not an available release image of staging \(not found\); its release images: /);
    const live = await argos('rollback', '--yes', '--to', first ?? '');
    expect(live.stderr).toMatch(/is already live in staging: nothing to roll back to/);
  });

  it('decommission deletes the release images and their snapshots, and keeps the base image', async () => {
    const releases = await releaseImages();
    const snapshotIds = releases.flatMap((image) => (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])));
    const dry = await argos('decommission', '--dry-run', '--skip-final-snapshot');
    expect(dry.stdout).toMatch(/release image argos-staging-release-\d{8}T\d{6}Z \(ami-[0-9a-f]+, git ref master\) and its snapshots/);
    const result = await argos('decommission', '--yes', '--skip-final-snapshot');
    expect(result.exitCode).toBe(0);
    expect(await releaseImages()).toEqual([]);
    const snapshots = await clients.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    const left = (snapshots.Snapshots ?? []).map((snapshot) => snapshot.SnapshotId);
    for (const id of snapshotIds) expect(left).not.toContain(id);
    const base = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [baseImageId] }));
    expect(base.Images?.[0]?.State).toBe('available');
  });
});
