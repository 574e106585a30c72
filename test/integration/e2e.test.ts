/**
 * End to end: the real CLI, the real SDK over HTTP against moto, the real
 * ansible-playbook against a real local target reached under the emulator's
 * host names. commission (bake + deploy of every role) → status → deploy →
 * decommission → clean, with the AWS state and the files checked after each.
 *
 * Deploys here pass --no-release-image: the one local target plays every host, so a
 * release build's temporary instance would be the app server itself, provisioned twice at
 * once. Release images: release-cli.test.ts (moto) and release-image.test.ts (the model).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand, DescribeSnapshotsCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import { snapshotAccount } from '../support/account-snapshot.js';
import { importKeyPair } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { runCli } from '../support/cli.js';
import { localTargetOrSkip } from '../support/local-target.js';
import { CANARY, makeTargetProject, TARGET_PORTS, type TargetProject } from '../support/target-project.js';

const capability = localTargetOrSkip();
const DB_ENDPOINT = 'argos-staging-database.aaaaaaaaaa.us-east-1.rds.amazonaws.com';
/** Broker ports of this test (the target shares the machine's network with the role tests). */
const BROKER_PORTS = { broker_amqp_port: 25670, broker_epmd_port: 24369, broker_dist_port: 45670, broker_redis_port: 26379 };
let clients: AwsClients;
let project: TargetProject;

const argos = (...args: string[]) => runCli(['staging', ...args], { cwd: project.root, env: fakeAwsEnvironment, timeout: 900_000 });

async function temporarySshRules(): Promise<string[]> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({}));
  return (response.SecurityGroups ?? []).flatMap((g) => (g.IpPermissions ?? []).filter((p) => p.FromPort === 22).map(() => g.GroupName ?? ''));
}

describe.skipIf(!capability.ok)(`the whole lifecycle${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  beforeAll(async () => {
    clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
    project = await makeTargetProject();
    await project.writeConfig(BROKER_PORTS);
    // The key pair of the target's own key, so preflight's fingerprint check passes as for a real user.
    await importKeyPair(clients.ec2, 'argos-test', join(project.root, 'keys', 'argos-test.pem'));
    await project.prepareDatabaseStandIn(DB_ENDPOINT);
  }, 600_000);

  afterAll(async () => {
    await project?.stop();
    clients?.destroy();
  });

  it('commission bakes the image on the target, builds everything and deploys every role', async () => {
    const result = await argos('commission', '--yes', '--with-broker');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('staging is commissioned.');
    expect(result.stdout).toMatch(/✓ image argos-image/); // baked, not reused
    expect(result.stdout).toMatch(/run the playbooks: site\.yml \(broker, app, database\)/);
    const account = await snapshotAccount(clients);
    // The release image (issue 16) was made by the real site.yml on the target, before the group.
    expect(result.stdout).toMatch(/✓ release image/);
    expect(account).toMatchObject({
      images: ['argos-image', expect.stringMatching(/^argos-staging-release-\d{8}T\d{6}Z$/)],
      autoScalingGroups: ['argos-staging-app'],
      loadBalancers: ['argos-staging-elb'],
      databases: ['argos-staging-database'],
      securityGroups: ['argos-staging-app', 'argos-staging-broker', 'argos-staging-database', 'argos-staging-elb'],
    });
    expect(account.instances).toHaveLength(2); // one app server, the broker; the bake and release build instances are gone
    expect(await temporarySshRules()).toEqual([]);
    // The app answers through nginx on the target.
    const page = await fetch(`http://127.0.0.1:${TARGET_PORTS.nginx}/`);
    expect(page.status).toBe(200);
    const hosts = await readFile(join(project.root, 'hosts', 'hosts_staging'), 'utf8');
    expect(hosts).toMatch(/\[appservers\]\nec2-\S+ /);
    expect(hosts).toMatch(/\[brokers\]\nec2-\S+ /);
    expect(hosts).toContain(`db_host=${DB_ENDPOINT}`);
  }, 900_000);

  it('status shows the environment with no drift', async () => {
    const result = await argos('status', '--json');
    const status = JSON.parse(result.stdout) as EnvironmentStatus;
    expect(status).toMatchObject({ commissioned: true, drift: [] });
    expect(status.resources.find((r) => r.kind === 'app instance')?.state).toBe('InService/Healthy');
  });

  it('deploy runs every role again, and closes SSH', async () => {
    const result = await argos('deploy', '--no-release-image');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(await temporarySshRules()).toEqual([]);
    const known = await readFile(join(project.root, 'hosts', 'known_hosts_staging'), 'utf8');
    const hosts = await readFile(join(project.root, 'hosts', 'hosts_staging'), 'utf8');
    // Keys are recorded by instance id (HostKeyAlias), one entry per current instance.
    const ids = [...hosts.matchAll(/instance_id=(i-[0-9a-f]+)/g)].map((match) => match[1] ?? '');
    for (const id of ids) expect(known).toMatch(new RegExp(`^${id} `, 'm'));
    expect(known.trim().split('\n')).toHaveLength(new Set(ids).size);
  }, 900_000);

  it('decommission and clean leave nothing of argos but the final database snapshot', async () => {
    expect((await argos('decommission', '--yes')).exitCode).toBe(0);
    expect((await argos('clean', '--yes')).exitCode).toBe(0);
    const account = await snapshotAccount(clients);
    expect(account).toEqual({
      instances: [],
      securityGroups: [],
      images: [],
      launchTemplates: [],
      loadBalancers: [],
      autoScalingGroups: [],
      databases: [],
      databaseSnapshots: [expect.stringMatching(/^argos-staging-database-final-/)],
      databaseSubnetGroups: [],
    });
    const tagged = await clients.ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:ManagedBy', Values: ['argos'] }] }));
    expect(tagged.Snapshots).toEqual([]);
    const live = await clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:ManagedBy', Values: ['argos'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }] }));
    expect(live.Reservations ?? []).toEqual([]);
    const log = await readFile(join(project.root, 'logs', 'argos-staging.log'), 'utf8');
    expect(log).not.toContain(CANARY);
  }, 900_000);
});
