/**
 * argos end to end on the local cloud, where AWS's behaviour is not hidden:
 * every instance is a real systemd machine, the load balancer really checks
 * health and routes only to InService instances, the group replaces
 * instances, the database is a real PostgreSQL. The real CLI and SDK talk to
 * the harness in front of moto; Ansible reaches the machines through the
 * cloud's namespace.
 *
 * A first commission on an empty account must serve through the load
 * balancer; instances the group launches later (scale-out, replacement) must
 * serve with no argos command run; a deploy of a new git ref and a rollback
 * must switch what answers with no failed request; decommission and clean
 * leave nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, DescribeSnapshotsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeInstanceHealthCommand } from '@aws-sdk/client-elastic-load-balancing';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../localcloud/proc.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import { snapshotAccount } from '../support/account-snapshot.js';
import { CLOUD_CANARY, makeCloudProject, type CloudProject } from '../support/cloud-project.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();
const LB = 'argos-staging-elb';
const GROUP = 'argos-staging-app';

/** What the sample app answers. */
interface Answer {
  version: string;
  host: string;
  env_name: string | null;
}

describe.skipIf(!capability.ok)(`argos on the local cloud${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let project: CloudProject;
  const log: string[] = [];

  const url = (): string => {
    const found = project.harness.balancing.urlOf(LB);
    if (!found) throw new Error(`the load balancer ${LB} has no local port`);
    return found;
  };
  const ask = async (): Promise<Answer> => {
    const response = await fetch(`${url()}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    return (await response.json()) as Answer;
  };
  const inService = async (): Promise<string[]> =>
    ((await project.clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }))).InstanceStates ?? [])
      .filter((s) => s.State === 'InService')
      .map((s) => s.InstanceId ?? '')
      .sort();

  /**
   * Requests through the load balancer while `during` runs: one every 50 ms
   * (at most 20,000), recording failures and the versions that answered, in order.
   */
  async function requestLoop<T>(during: () => Promise<T>): Promise<{ result: T; requests: number; failures: string[]; versions: string[] }> {
    let done = false;
    const failures: string[] = [];
    const versions: string[] = [];
    let requests = 0;
    const loop = (async () => {
      while (!done && requests < 20_000) {
        requests += 1;
        try {
          const answer = await ask();
          if (versions.at(-1) !== answer.version) versions.push(answer.version);
        } catch (error) {
          failures.push(`${new Date().toISOString()} ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      return { result: await during(), requests, failures, versions };
    } finally {
      done = true;
      await loop;
    }
  }

  beforeAll(async () => {
    // The database stays `creating` for 100 s, as RDS does for minutes (the local one answers in seconds): the
    // first commission configures its app server meanwhile, once the image bake (about 45 s here) is done.
    project = await makeCloudProject({ name: process.env['LOCALCLOUD_E2E_NAME'] ?? 'ee', log: (line) => log.push(line), databaseCreateMs: 100_000 });
  }, 600_000);

  afterAll(async () => {
    await project?.stop();
    if (log.length > 0) process.stdout.write(`harness log (last 60 lines):\n  ${log.slice(-60).join('\n  ')}\n`);
  }, 300_000);

  it('a first commission on an empty account serves through the load balancer', async () => {
    const result = await project.argos(['staging', 'commission', '--yes', '--with-broker']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('staging is commissioned.');
    const answer = await ask();
    expect(answer).toMatchObject({ version: '1', env_name: 'staging' });
    expect(await inService()).toHaveLength(1);
    const account = await snapshotAccount(project.clients);
    expect(account).toMatchObject({
      images: ['argos-image', expect.stringMatching(/^argos-staging-release-\d{8}T\d{6}Z$/)],
      autoScalingGroups: [GROUP],
      loadBalancers: [LB],
      databases: ['argos-staging-database'],
      securityGroups: ['argos-staging-app', 'argos-staging-broker', 'argos-staging-database', 'argos-staging-elb'],
    });
    expect(account.instances).toHaveLength(2); // one app server, the broker; the bake and release build instances are gone
    const endpoint = (await project.clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'argos-staging-database' }))).DBInstances?.[0]?.Endpoint?.Address;
    const hosts = await readFile(join(project.root, 'hosts', 'hosts_staging'), 'utf8');
    expect(hosts).toMatch(/\[appservers\]\n\S+ /);
    expect(hosts).toMatch(/\[brokers\]\n\S+ /);
    expect(hosts).toContain(`db_host=${endpoint ?? 'the database endpoint'}`);
    // The group launched from the base image with its health replacement suspended until the deploy had put
    // the app on its instance (the load balancer's real checks passed only then), and resumed
    expect(result.stdout).toMatch(/launched from the base image: health replacement suspended until the deploy has put the app on them/);
    expect(result.stdout).toMatch(/i-[0-9a-f]+ in service; health replacement resumed/);
    // While the database was being created, its app server got what needs no database (playbooks/prepare.yml);
    // the deploy after it (site.yml) did the rest, and the app answered.
    expect(result.stdout).toMatch(/configure the app servers while the database is created: i-[0-9a-f]+: playbooks\/prepare\.yml/);
    expect(result.stdout).toMatch(/✓ configure the app servers while the database is created \(/);
    // Once the database existed, the deploy's check found only the app's configuration missing and ran
    // only that path (the configuration, uWSGI enabled and started): roles/converged, app.yml.
    const playbookLog = await readFile(join(project.root, 'logs', 'argos-staging.log'), 'utf8');
    expect(playbookLog).toContain('Only the configuration differs: writing it and restarting uWSGI.');
    expect(playbookLog).toMatch(/RUNNING HANDLER \[Restart uWSGI for the new configuration\][^\n]*\n[^\n]*changed: \[/);
    const group = (await project.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }))).AutoScalingGroups?.[0];
    expect(group?.SuspendedProcesses ?? []).toEqual([]);
  }, 1_800_000);

  it('status shows the environment with no drift, the app server in service', async () => {
    const result = await project.argos(['staging', 'status', '--json']);
    const status = JSON.parse(result.stdout) as EnvironmentStatus;
    expect(status).toMatchObject({ commissioned: true, drift: [] });
    expect(status.resources.find((r) => r.kind === 'app instance')?.state).toBe('InService/Healthy');
    // Instances launched from now on serve from boot: the release image made beside the deploy is live.
    expect(status.releases.map((release) => release.live)).toEqual([true]);
  }, 120_000);

  it('instances the group launches by itself serve: desired capacity 1 → 3, no argos command', async () => {
    const started = Date.now();
    await project.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 3 }));
    await waitFor('three instances in service', async () => ((await inService()).length === 3 ? true : undefined), 180_000, 1_000);
    const seconds = (Date.now() - started) / 1000;
    log.push(`scale-out 1 → 3: in service after ${seconds.toFixed(1)} s`);
    const hosts = new Set<string>();
    for (let i = 0; i < 30 && hosts.size < 3; i++) hosts.add((await ask()).host);
    expect(hosts.size).toBe(3);
  }, 300_000);

  it('a terminated instance is replaced by one that serves', async () => {
    const [victim] = await inService();
    await project.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [victim as string] }));
    await waitFor('a replacement in service', async () => {
      const now = await inService();
      return now.length === 3 && !now.includes(victim as string) ? true : undefined;
    }, 240_000, 1_000);
    expect((await ask()).version).toBe('1');
  }, 300_000);

  it('a deploy of a new git ref rolls out with no failed request, and a rollback returns with none', async () => {
    const commit = await project.releaseSampleApp('2');
    const deployed = await requestLoop(() => project.argos(['staging', 'deploy']));
    expect(deployed.result.stderr).toBe('');
    expect(deployed.result.exitCode).toBe(0);
    log.push(`deploy of ${commit}: ${deployed.requests} requests, versions ${deployed.versions.join(' → ')}`);
    expect(deployed.failures).toEqual([]);
    expect(deployed.versions.at(-1)).toBe('2');
    expect(deployed.versions[0]).toBe('1');

    // Deployed again with nothing changed: the check finds every server as wanted, none is taken out.
    const again = await project.argos(['staging', 'deploy', '--no-release-image']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/(i-[0-9a-f]+, ){2}i-[0-9a-f]+: already as this deploy wants them, left in service/);
    expect(again.stdout).not.toMatch(/out of the load balancer/);

    const rolledBack = await requestLoop(() => project.argos(['staging', 'rollback', '--yes']));
    expect(rolledBack.result.stderr).toBe('');
    expect(rolledBack.result.exitCode).toBe(0);
    log.push(`rollback: ${rolledBack.requests} requests, versions ${rolledBack.versions.join(' → ')}`);
    expect(rolledBack.failures).toEqual([]);
    expect(rolledBack.versions.at(-1)).toBe('1');

    // Host keys are recorded by instance id (HostKeyAlias), one entry per instance in the hosts file.
    const known = await readFile(join(project.root, 'hosts', 'known_hosts_staging'), 'utf8');
    const hosts = await readFile(join(project.root, 'hosts', 'hosts_staging'), 'utf8');
    const ids = [...hosts.matchAll(/instance_id=(i-[0-9a-f]+)/g)].map((match) => match[1] ?? '');
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(known).toMatch(new RegExp(`^${id} `, 'm'));
  }, 1_800_000);

  it('a deploy of a release whose app cannot start stops after the first batch, and the others keep serving', async () => {
    await project.releaseSampleApp('broken');
    const deployed = await requestLoop(() => project.argos(['staging', 'deploy']));
    expect(deployed.result.exitCode).toBe(1);
    expect(deployed.result.stderr).toMatch(/the rolling deploy stopped at batch 1 of 3 \(i-[0-9a-f]+\); i-[0-9a-f]+, i-[0-9a-f]+ were not touched and still serve the previous release/);
    // What failed is named: uWSGI's restart after the code changed (a handler), or the local check of the app's answer.
    expect(deployed.result.stderr).toMatch(/failed (handler \[(app : )?Restart uWSGI|task \[Check the app answers)/);
    log.push(`broken deploy: ${deployed.requests} requests, versions ${deployed.versions.join(' → ')}`);
    expect(deployed.failures).toEqual([]);
    expect(deployed.versions).toEqual(['1']);
  }, 1_800_000);

  it('decommission and clean leave nothing of the environment but the final database snapshot', async () => {
    const decommissioned = await project.argos(['staging', 'decommission', '--yes']);
    expect(decommissioned.exitCode).toBe(0);
    const cleaned = await project.argos(['staging', 'clean', '--yes']);
    expect(cleaned.exitCode).toBe(0);
    const status = JSON.parse((await project.argos(['staging', 'status', '--json'])).stdout) as { commissioned: boolean };
    expect(status.commissioned).toBe(false);
    expect(await snapshotAccount(project.clients)).toEqual({
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
    // Release images' and the base image's EBS snapshots went with them.
    const tagged = await project.clients.ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:ManagedBy', Values: ['argos'] }] }));
    expect(tagged.Snapshots).toEqual([]);
    const live = await project.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:ManagedBy', Values: ['argos'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }] }));
    expect(live.Reservations ?? []).toEqual([]);
    // The database password was never logged.
    const logged = await readFile(join(project.root, 'logs', 'argos-staging.log'), 'utf8');
    expect(logged.length).toBeGreaterThan(0);
    expect(logged).not.toContain(CLOUD_CANARY);
    // Terminated instances' machines go as the harness follows moto (as AWS's shutting-down takes its time).
    await waitFor('every machine gone', () => (project.harness.cloud.machines().length === 0 ? true : undefined), 120_000, 500);
    expect(project.harness.cloud.machines()).toEqual([]);
  }, 1_200_000);
});
