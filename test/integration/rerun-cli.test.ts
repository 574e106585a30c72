/**
 * A re-run changes only what was asked (issue 19, items 2 and 3), as a user
 * runs it against moto: options not given keep the environment's current
 * values, and a database class asked for on an existing database is applied,
 * never accepted and ignored.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLaunchTemplateVersionsCommand } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { snapshotAccount } from '../support/account-snapshot.js';
import { createKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli } from '../support/cli.js';

let clients: AwsClients;
let project: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  await createKeyPair(clients.ec2, 'argos-test');
  await registerImage(clients.ec2, 'argos-image');
});
afterAll(() => clients.destroy());

const argos = (...args: string[]) => runCli(['staging', 'commission', '--no-deploy', ...args], { cwd: project, env: fakeAwsEnvironment, timeout: 120_000 });

/** The group's sizes and the instance type of the template it launches from now. */
async function appServers(): Promise<{ min?: number | undefined; max?: number | undefined; instanceType?: string | undefined }> {
  const groups = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['argos-staging-app'] }));
  const group = groups.AutoScalingGroups?.[0];
  const versions = await clients.ec2.send(
    new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: group?.LaunchTemplate?.LaunchTemplateName, Versions: ['$Default'] }),
  );
  return { min: group?.MinSize, max: group?.MaxSize, instanceType: versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.InstanceType };
}

describe('commission on an existing environment', () => {
  it('keeps the sizes and instance type an earlier run set when no flag is given', async () => {
    // GIVEN an environment commissioned with its own sizes and type
    const first = await argos('--yes', '--min-size', '2', '--max-size', '6', '--instance-type', 't3.medium');
    expect(first.exitCode).toBe(0);
    expect(await appServers()).toEqual({ min: 2, max: 6, instanceType: 't3.medium' });
    const before = await snapshotAccount(clients);
    // WHEN a plain commission previews and then runs (as the README recommends after a failure)
    const dryRun = await argos('--dry-run');
    const rerun = await argos('--yes');
    // THEN neither plans nor makes a change: no size reset, no instance replaced
    expect(dryRun.exitCode).toBe(0);
    expect(dryRun.stdout).toContain('app servers argos-staging-app: exist, unchanged');
    expect(rerun.exitCode).toBe(0);
    expect(rerun.stdout).toContain('– app servers argos-staging-app: exists');
    expect(`${dryRun.stdout}\n${rerun.stdout}`).not.toMatch(/min size|max size|instance type|replaced/);
    expect(await appServers()).toEqual({ min: 2, max: 6, instanceType: 't3.medium' });
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('changes only the flag given, and checks min ≤ max against the current values', async () => {
    const tooSmall = await argos('--yes', '--max-size', '1');
    expect(tooSmall.exitCode).toBe(2);
    expect(tooSmall.stderr).toContain('--max-size (1) must not be less than the min size (2) argos-staging-app has now: pass --min-size too');
    const resized = await argos('--yes', '--max-size', '5');
    expect(resized.exitCode).toBe(0);
    expect(resized.stdout).toContain('max size 6 → 5');
    expect(resized.stdout).not.toMatch(/min size|instance type/);
    expect(await appServers()).toEqual({ min: 2, max: 5, instanceType: 't3.medium' });
  });

  it('applies --db-instance-type to the existing database in the maintenance window, and says so in the plan', async () => {
    const dryRun = await argos('--dry-run', '--db-instance-type', 'db.t3.small');
    expect(dryRun.stdout).toContain('database argos-staging-database: instance class db.t3.micro → db.t3.small (applied in the next maintenance window)');
    const result = await argos('--yes', '--db-instance-type', 'db.t3.small');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('changed: instance class db.t3.micro → db.t3.small (applied in the next maintenance window)');
    // moto applies every modification at once (AWS keeps it pending until the window): the class did change.
    const described = await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'argos-staging-database' }));
    expect(described.DBInstances?.[0]?.DBInstanceClass).toBe('db.t3.small');
  });
});
