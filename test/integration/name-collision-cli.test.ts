/**
 * Two (app, env) pairs whose names collide, against moto: app `argos-x` env `y`
 * and app `argos` env `x-y` both name their resources `argos-x-y-<group>`.
 * argos finds the group, load balancer and database by name; their tags say
 * whose they are, and another app's are reported as conflicts and left alone.
 */
import { CreateSecurityGroupCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import { makeTags, toTagSpecifications } from '../../src/names.js';
import { snapshotAccount, type AccountSnapshot } from '../support/account-snapshot.js';
import { createKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli, sampleConfig } from '../support/cli.js';

let clients: AwsClients;
/** The project of app `argos-x`, whose env `y` exists. */
let owner: string;
/** The project of app `argos`, whose env `x-y` collides with it. */
let other: string;
let commissioned: AccountSnapshot;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  owner = await makeProject(sampleConfig({ app_name: 'argos-x', db_deletion_protection: true }));
  other = await makeProject(sampleConfig({ app_name: 'argos' }));
  await createKeyPair(clients.ec2, 'argos-test');
  await registerImage(clients.ec2, 'argos-x-image');
  const result = await runCli(['y', 'commission', '--no-deploy', '--yes', '--min-size', '2'], { cwd: owner, env: fakeAwsEnvironment, timeout: 120_000 });
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  commissioned = await snapshotAccount(clients);
  expect(commissioned).toMatchObject({ autoScalingGroups: ['argos-x-y-app'], loadBalancers: ['argos-x-y-elb'], databases: ['argos-x-y-database'] });
}, 180_000);
afterAll(() => clients.destroy());

const asOther = (...args: string[]) => runCli(['x-y', ...args], { cwd: other, env: fakeAwsEnvironment, timeout: 120_000 });

describe('app argos env x-y, whose names are those of app argos-x env y', () => {
  it('status shows the other app\'s resources as conflicts, not as its own', async () => {
    const result = await asOther('status', '--json');
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout) as EnvironmentStatus;
    expect(status.commissioned).toBe(false);
    expect(status.url).toBeUndefined();
    for (const name of ['argos-x-y-app', 'argos-x-y-elb', 'argos-x-y-database']) {
      expect(status.resources).toContainEqual(expect.objectContaining({ name, state: 'conflict', detail: expect.stringContaining('App=argos-x, Env=y') }));
    }
    expect(status.resources.filter((row) => row.kind === 'app instance')).toEqual([]);
    expect(status.drift).toContainEqual(expect.stringMatching(/^the autoscaling group argos-x-y-app \(tagged ManagedBy=argos, App=argos-x, Env=y, Group=app\) is not argos x-y's: App is argos-x, not argos; Env is y, not x-y/));
  });

  it('decommission (and its dry run) leaves every one of them alone and says so', async () => {
    const dryRun = await asOther('decommission', '--dry-run');
    expect(dryRun.exitCode).toBe(0);
    const result = await asOther('decommission', '--yes');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    for (const output of [dryRun.stdout, result.stdout]) {
      expect(output).toContain('nothing to decommission for x-y');
      for (const what of ['autoscaling group argos-x-y-app', 'load balancer argos-x-y-elb', 'database argos-x-y-database', 'DB subnet group argos-x-y-database']) {
        expect(output).toMatch(new RegExp(`the ${what} \\(tagged [^)]*App=argos-x, Env=y[^)]*\\) is not argos x-y's: [^:]*: left alone`));
      }
    }
    expect(await snapshotAccount(clients)).toEqual(commissioned);
    const database = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'argos-x-y-database' }))).DBInstances?.[0];
    expect(database).toMatchObject({ DBInstanceStatus: 'available', DeletionProtection: true });
    const running = await clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:aws:autoscaling:groupName', Values: ['argos-x-y-app'] }, { Name: 'instance-state-name', Values: ['running'] }] }));
    expect((running.Reservations ?? []).flatMap((r) => r.Instances ?? [])).toHaveLength(2);
  });

  it('commission refuses the new environment name x-y, which collides with app argos-x env y', async () => {
    const result = await asOther('commission', '--no-deploy', '--yes');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      "the environment name 'x-y' has a hyphen, and no environment x-y of argos exists: a new environment name must be letters and digits only (for example xy), because names are <app>-<env>-<group> and app 'argos' env 'x-y' would share every name with app 'argos-x' env 'y'",
    );
    expect(await snapshotAccount(clients)).toEqual(commissioned);
  });

  it('an existing environment x-y (migration) is accepted, and commission still refuses to adopt the other app\'s resources', async () => {
    // An earlier argos made app argos env x-y: its resources carry Env=x-y (one security group stands for them).
    const vpcs = await clients.ec2.send(new CreateSecurityGroupCommand({
      GroupName: 'argos-x-y-legacy',
      Description: 'stands in for an existing environment x-y',
      TagSpecifications: toTagSpecifications(['security-group'] as const, makeTags({ app: 'argos', env: 'x-y', group: 'worker' }, 'argos-x-y-legacy')),
    }));
    expect(vpcs.GroupId).toMatch(/^sg-/);
    const before = await snapshotAccount(clients);

    const dryRun = await asOther('commission', '--no-deploy', '--dry-run');
    expect(dryRun.exitCode).toBe(1);
    expect(dryRun.stderr).toMatch(/the (database argos-x-y-database|load balancer argos-x-y-elb|autoscaling group argos-x-y-app) \(tagged [^)]*App=argos-x, Env=y[^)]*\) is not argos x-y's: .*argos leaves it alone/);

    const result = await asOther('commission', '--no-deploy', '--yes');
    expect(result.exitCode).toBe(1);
    // The first of argos-x's resources the run meets (the group, whose sizes a re-run keeps) stops it, before anything is made.
    expect(result.stderr).toMatch(/the autoscaling group argos-x-y-app \(tagged [^)]*App=argos-x, Env=y[^)]*\) is not argos x-y's: App is argos-x, not argos; Env is y, not x-y\. argos leaves it alone/);
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('the owner still sees, and decommissions, its own environment', async () => {
    const status = JSON.parse((await runCli(['y', 'status', '--json'], { cwd: owner, env: fakeAwsEnvironment })).stdout) as EnvironmentStatus;
    expect(status.commissioned).toBe(true);
    expect(status.resources.filter((row) => row.state === 'conflict')).toEqual([]);
    const result = await runCli(['y', 'decommission', '--yes', '--skip-final-snapshot'], { cwd: owner, env: fakeAwsEnvironment, timeout: 120_000 });
    expect(result.exitCode).toBe(0);
    expect(await snapshotAccount(clients)).toMatchObject({ autoScalingGroups: [], loadBalancers: [], databases: [] });
  });
});
