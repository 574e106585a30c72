/**
 * Worker servers against moto (issue 18), as a user runs them with the built
 * CLI: commission --with-broker --with-workers, a re-run that creates nothing,
 * status, decommission that leaves nothing; and once in this process with
 * Ansible stubbed (moto's instances are not machines), the commission that
 * makes a release image both tiers launch from.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribePoliciesCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAutoScalingGroup, findLaunchTemplateData } from '../../src/autoscaling.js';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { commission } from '../../src/commands/commission.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import { snapshotAccount } from '../support/account-snapshot.js';
import { createKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli } from '../support/cli.js';
import { runInProcess, type RecordedPlaybookRun } from '../support/in-process.js';

let clients: AwsClients;
let project: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  await createKeyPair(clients.ec2, 'argos-test');
  await registerImage(clients.ec2, 'argos-image');
});
afterAll(() => clients.destroy());

const argos = (...args: string[]) => runCli(['staging', ...args], { cwd: project, env: fakeAwsEnvironment, timeout: 120_000 });
const commissionWorkers = (...args: string[]) => argos('commission', '--no-deploy', '--yes', '--with-broker', '--with-workers', ...args);

/** The environment's security groups by name, with their ingress as `port from group-or-cidr`. */
async function securityGroups(): Promise<Map<string, { id: string; ingress: string[] }>> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:Env', Values: ['staging'] }] }));
  return new Map(
    (response.SecurityGroups ?? []).map((group) => [
      group.GroupName ?? '',
      {
        id: group.GroupId ?? '',
        ingress: (group.IpPermissions ?? [])
          .flatMap((permission) => [
            ...(permission.UserIdGroupPairs ?? []).map((pair) => `${permission.FromPort} from ${pair.GroupId}`),
            ...(permission.IpRanges ?? []).map((range) => `${permission.FromPort} from ${range.CidrIp}`),
          ])
          .sort(),
      },
    ]),
  );
}

/** What a launch template's user data script says, decoded. */
function decode(userData: string | undefined): string {
  return Buffer.from(userData ?? '', 'base64').toString('utf8');
}

describe('worker servers on moto', () => {
  it('refuses --with-workers without the broker, as a usage error that says so, before creating anything', async () => {
    const before = await snapshotAccount(clients);
    const result = await argos('commission', '--no-deploy', '--yes', '--with-workers');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--with-workers needs the broker: Celery workers take their tasks from it. Add --with-broker');
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('commission --with-broker --with-workers makes the workers\' group, template, policy and security group, admitted by the broker and database', async () => {
    // WHEN
    const result = await commissionWorkers('--workers-max-size', '3');
    // THEN
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/workers:\s+argos-staging-worker: i-[0-9a-f]+/);
    const group = await findAutoScalingGroup(clients.autoScaling, 'argos-staging-worker');
    // No load balancer: EC2 health; sizes from the flags (min 1 for new workers).
    expect(group).toMatchObject({ MinSize: 1, MaxSize: 3, HealthCheckType: 'EC2', LoadBalancerNames: [] });
    expect(group?.Instances).toHaveLength(1);
    expect(group?.Tags?.map((tag) => `${tag.Key}=${tag.Value}`)).toEqual(expect.arrayContaining(['Group=worker', 'Env=staging', 'ManagedBy=argos']));
    const templateName = group?.LaunchTemplate?.LaunchTemplateName ?? '';
    expect(templateName).toMatch(/^argos-staging-worker-[0-9a-f]{8}$/);
    const data = await findLaunchTemplateData(clients.ec2, templateName);
    // The app servers' hardening: IMDSv2 only, an encrypted root volume, tags on create.
    expect(data?.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(data?.BlockDeviceMappings?.[0]?.Ebs).toMatchObject({ Encrypted: true, VolumeType: 'gp3' });
    // (moto lists the template's own tags among them too)
    expect(data?.TagSpecifications?.map((spec) => spec.ResourceType)).toEqual(expect.arrayContaining(['instance', 'volume']));
    const instanceTags = data?.TagSpecifications?.find((spec) => spec.ResourceType === 'instance')?.Tags;
    expect(instanceTags).toEqual(expect.arrayContaining([{ Key: 'Group', Value: 'worker' }, { Key: 'Name', Value: 'argos-staging-worker' }]));
    expect(decode(data?.UserData)).toContain("systemctl enable --now --no-block 'argos-worker.service'");
    const policies = await clients.autoScaling.send(new DescribePoliciesCommand({ AutoScalingGroupName: 'argos-staging-worker' }));
    expect(policies.ScalingPolicies?.map((policy) => [policy.PolicyName, policy.TargetTrackingConfiguration?.TargetValue])).toEqual([['argos-staging-worker-cpu-target', 60]]);
    const groups = await securityGroups();
    const worker = groups.get('argos-staging-worker');
    expect(worker?.ingress).toEqual([]);
    expect(data?.SecurityGroupIds).toEqual([worker?.id]);
    expect(groups.get('argos-staging-broker')?.ingress).toEqual(expect.arrayContaining([`5672 from ${worker?.id}`, `6379 from ${worker?.id}`]));
    expect(groups.get('argos-staging-database')?.ingress).toEqual(expect.arrayContaining([`5432 from ${worker?.id}`]));
    // The hosts file's workers group holds the group's instance.
    const hosts = await readFile(join(project, 'hosts', 'hosts_staging'), 'utf8');
    expect(hosts.split('[workers]')[1]?.split('[all:vars]')[0]).toContain(`instance_id=${group?.Instances?.[0]?.InstanceId}`);
  });

  it('a re-run creates nothing twice and changes nothing', async () => {
    const before = await snapshotAccount(clients);
    const dryRun = await commissionWorkers('--dry-run');
    const rerun = await commissionWorkers();
    expect(dryRun.exitCode).toBe(0);
    expect(dryRun.stdout).toContain('workers argos-staging-worker: exist, unchanged');
    expect(rerun.exitCode).toBe(0);
    expect(rerun.stdout).toContain('– workers argos-staging-worker: exists');
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('status shows the workers\' group and its instances, and no drift about them', async () => {
    const result = await argos('status', '--json');
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout) as EnvironmentStatus;
    const group = await findAutoScalingGroup(clients.autoScaling, 'argos-staging-worker');
    expect(status.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'autoscaling group', name: 'argos-staging-worker', detail: expect.stringContaining('min 1 max 3') }),
        expect.objectContaining({ kind: 'worker instance', id: group?.Instances?.[0]?.InstanceId, state: 'InService/Healthy' }),
      ]),
    );
    // --no-deploy: no release image yet, which status says of the app servers; nothing about the workers.
    expect(status.drift).toEqual(['the app servers launch from the base image, not a release image: instances launched later have no app until argos staging deploy makes one']);
  });

  it('with the deploy, the release image carries the worker (installed, not started) and both groups launch from it', async () => {
    const playbookRuns: RecordedPlaybookRun[] = [];
    await runInProcess(project, 'commission', { withBroker: true, withWorkers: true }, (ctx) => commission(ctx), playbookRuns);
    const images = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:Group', Values: ['release'] }] }));
    const release = images.Images?.find((image) => image.State === 'available');
    expect(release?.Tags).toEqual(expect.arrayContaining([{ Key: 'argos:services', Value: 'app,worker' }]));
    // The release build's inventory: the one instance is an app server and a worker whose service stays stopped.
    const build = playbookRuns[0];
    expect(build?.playbooks.map((path) => path.split('/').at(-1))).toEqual(['site.yml']);
    const [, appservers = '', workers = ''] = (build?.inventoryText ?? '').split(/^\[(?:appservers|workers)\]$/m);
    const buildHost = appservers.trim().split(/\s+/)[0] ?? '';
    expect(buildHost).not.toBe('');
    expect(workers).toContain(buildHost);
    expect(build?.inventoryText).toMatch(/^\[workers:vars\]\nworker_start=false$/m);
    for (const group of ['app', 'worker'] as const) {
      const current = await findAutoScalingGroup(clients.autoScaling, `argos-staging-${group}`);
      expect((await findLaunchTemplateData(clients.ec2, current?.LaunchTemplate?.LaunchTemplateName ?? ''))?.ImageId).toBe(release?.ImageId);
    }
    // The earlier worker template (base image) is gone: one per group.
    const status = JSON.parse((await argos('status', '--json')).stdout) as EnvironmentStatus;
    expect(status.drift.filter((line) => line.includes('launch template'))).toEqual([]);
  });

  it('decommission deletes the workers, their templates and their security group: nothing of staging is left', async () => {
    const dry = await argos('decommission', '--dry-run', '--skip-final-snapshot');
    expect(dry.stdout).toMatch(/autoscaling group argos-staging-worker and its instances i-[0-9a-f]+/);
    expect(dry.stdout).toMatch(/launch template argos-staging-worker-[0-9a-f]{8} \(lt-[0-9a-f]+\)/);
    const result = await argos('decommission', '--yes', '--skip-final-snapshot');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const left = await snapshotAccount(clients);
    const staging = Object.values(left).flat().filter((name) => name.includes('staging'));
    expect(staging).toEqual([]);
    expect(left.instances).toEqual([]);
    expect(left.autoScalingGroups).toEqual([]);
    expect(left.launchTemplates).toEqual([]);
  });
});
