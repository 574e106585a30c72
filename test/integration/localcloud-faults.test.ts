/**
 * Faults, end to end, on the local cloud: Ctrl-C during the image bake, a
 * failing role during a rolling deploy, Ctrl-C in the middle of a rolling
 * deploy, a rolling deploy killed outright (SIGKILL), a second Ctrl-C during decommission; each followed by a check of
 * what was left (in the account and on the machines) and a re-run that
 * converges, and a final check that nothing leaked.
 *
 * Here, unlike against the emulator alone, the instances are real systemd
 * machines and the load balancer really checks health: an interrupted deploy
 * must leave the app server registered and serving, not just the calls made.
 */
import { DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { DescribeInstanceHealthCommand } from '@aws-sdk/client-elastic-load-balancing';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseInstanceId } from '../../localcloud/database.js';
import { waitFor } from '../../localcloud/proc.js';
import { snapshotAccount } from '../support/account-snapshot.js';
import { makeCloudProject, type CloudProject } from '../support/cloud-project.js';
import { interruptWhen } from '../support/interrupt.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();
const LB = 'argos-staging-elb';
const GROUP = 'argos-staging-app';

describe.skipIf(!capability.ok)(`faults end to end on the local cloud${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let project: CloudProject;
  const log: string[] = [];

  const interrupt = (args: string[], marker: RegExp, again = false) =>
    interruptWhen(['staging', ...args], marker, { cwd: project.root, env: project.env, again });
  const temporarySshRules = async (): Promise<string[]> => {
    const response = await project.clients.ec2.send(new DescribeSecurityGroupsCommand({}));
    return (response.SecurityGroups ?? []).flatMap((g) => (g.IpPermissions ?? []).filter((p) => p.FromPort === 22).map(() => g.GroupName ?? ''));
  };
  /** The argos-vars directories (each a run's database password file) in the temporary directory the CLIs use. */
  const varsDirectories = async (): Promise<string[]> => (await readdir(tmpdir())).filter((name) => name.startsWith('argos-vars-'));
  const inService = async (): Promise<string[]> =>
    ((await project.clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }))).InstanceStates ?? [])
      .filter((s) => s.State === 'InService')
      .map((s) => s.InstanceId ?? '');
  /** Waits until `count` instances are InService (a replacement may be booting); the health answer in the error if not. */
  const waitServing = async (count: number): Promise<void> => {
    await waitFor(`${count} app servers in service`, async () => ((await inService()).length === count ? true : undefined), 300_000, 1_000).catch(async (error: unknown) => {
      const states = (await project.clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }))).InstanceStates ?? [];
      throw new Error(`${(error as Error).message}: ${states.map((s) => `${s.InstanceId ?? ''} ${s.State ?? ''} (${s.Description ?? ''})`).join('; ')}`);
    });
  };
  /** Instances tagged argos:out-of-rotation: taken out of the load balancer by a run and not registered again since. */
  const taggedOutOfRotation = async (): Promise<string[]> =>
    ((await project.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['argos:out-of-rotation'] }] }))).Reservations ?? [])
      .flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId ?? '');
  const suspendedProcesses = async (): Promise<string[]> =>
    ((await project.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }))).AutoScalingGroups?.[0]?.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? '');
  const answers = async (): Promise<boolean> => {
    const url = project.harness.balancing.urlOf(LB);
    if (!url) return false;
    const response = await fetch(`${url}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    return response?.status === 200;
  };
  /** The machines the harness runs for EC2 instances (not the database's), once it has followed moto's terminations. */
  const instanceMachinesSettled = async (count: number): Promise<string[]> => {
    const database = databaseInstanceId('argos-staging-database');
    const ids = () => project.harness.cloud.machines().map((m) => m.instanceId).filter((id) => id !== database);
    await waitFor(`${count} instance machine(s)`, () => (ids().length === count ? true : undefined), 120_000, 500).catch(() => undefined);
    return ids();
  };

  beforeAll(async () => {
    project = await makeCloudProject({ name: process.env['LOCALCLOUD_FAULTS_NAME'] ?? 'ef', log: (line) => log.push(line) });
  }, 600_000);

  afterAll(async () => {
    await project?.stop();
    if (log.length > 0) process.stdout.write(`harness log (last 40 lines):\n  ${log.slice(-40).join('\n  ')}\n`);
  }, 300_000);

  it('Ctrl-C during the bake stops the playbook, removes the bake instance and its machine, exits 130', async () => {
    const result = await interrupt(['commission', '--yes'], /running playbooks\/image\.yml/);
    expect(result.exitCode).toBe(130);
    expect(result.output).toMatch(/interrupted; exists now: .*Run `argos staging commission` again to continue/s);
    const account = await snapshotAccount(project.clients);
    expect(account.instances).toEqual([]);
    expect(account.images).toEqual([]);
    expect(account.securityGroups).not.toContain('argos-image-bake');
    expect(await temporarySshRules()).toEqual([]);
    // The database, started beside the bake, may run on: it is in the account and the message.
    expect(await instanceMachinesSettled(0)).toEqual([]);
  }, 900_000);

  it('a re-run after the interruption converges and serves through the load balancer', async () => {
    const result = await project.argos(['staging', 'commission', '--yes']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const account = await snapshotAccount(project.clients);
    expect(account).toMatchObject({ autoScalingGroups: [GROUP], databases: ['argos-staging-database'] });
    expect(account.images).toContain('argos-image');
    expect(account.instances).toHaveLength(1);
    expect(await answers()).toBe(true);
  }, 1_800_000);

  it('a second app server, launched by the group, serves (deploys are rolling from two on)', async () => {
    await project.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 2 }));
    await waitFor('two app servers in service', async () => ((await inService()).length === 2 ? true : undefined), 300_000, 1_000);
    expect(await answers()).toBe(true);
  }, 600_000);

  it('a failing role stops the rolling deploy (exit 1) after its first batch, the other app server serving; fixed, the re-run converges', async () => {
    const before = await snapshotAccount(project.clients);
    await project.writeConfig({ app_nginx_client_max_body_size: 'not-a-size' });
    const failed = await project.argos(['staging', 'deploy', '--roles', 'app']).finally(() => project.writeConfig());
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(/failed task \[app : /);
    expect(failed.stderr).toMatch(/the rolling deploy stopped at batch 1 of 2 \(i-[0-9a-f]+\); i-[0-9a-f]+ were not touched and still serve the previous release/);
    // The release build on the same bad configuration was stopped, or failed first by itself: either way it is said.
    expect(failed.stderr).toMatch(/\(also: release image (was stopped|failed: )/);
    expect(await temporarySshRules()).toEqual([]);
    // The release build stopped with the deploy: no image of a release that did not deploy, no instance left.
    const after = await snapshotAccount(project.clients);
    expect(after.images).toEqual(before.images);
    expect(after.instances).toEqual(before.instances);
    // The untouched app server still serves; the group's health replacement runs again, so the failed one is
    // either back in service or (its check failing past the grace period) replaced from the release image.
    const untouched = /; (i-[0-9a-f]+) were not touched/.exec(failed.stderr)?.[1] ?? 'the untouched instance';
    expect(await inService()).toContain(untouched);
    expect(await answers()).toBe(true);
    expect(await suspendedProcesses()).toEqual([]);
    expect(await taggedOutOfRotation()).toEqual([]);
    await waitServing(2);

    const fixed = await project.argos(['staging', 'deploy', '--roles', 'app']);
    expect(fixed.stderr).toBe('');
    expect(fixed.exitCode).toBe(0);
    expect(await temporarySshRules()).toEqual([]);
    await waitServing(2);
    // Both batches were put back: no tag left.
    expect(await taggedOutOfRotation()).toEqual([]);
    expect(await answers()).toBe(true);
  }, 1_800_000);

  it('Ctrl-C in the middle of a rolling deploy registers the instance again and resumes the processes it suspended', async () => {
    // --full: nothing changed since the last deploy, and without it the check would leave both servers in service.
    const result = await interrupt(['deploy', '--no-release-image', '--full'], /batch 1 of 2 \(i-[0-9a-f]+\): running/);
    expect(result.exitCode, result.output).toBe(130);
    expect(result.output).toMatch(/interrupted/);
    expect(await suspendedProcesses()).toEqual([]);
    expect(await taggedOutOfRotation()).toEqual([]);
    // Registered again: the health check brings it back without any argos command.
    await waitServing(2);
    expect(await answers()).toBe(true);
    expect(await temporarySshRules()).toEqual([]);
  }, 900_000);

  it('a rolling deploy killed (SIGKILL) in its first batch: status names what it left; the next deploy registers the instance again and resumes health replacement', async () => {
    // --full: as above, so that a batch is taken out at all.
    const killed = await interruptWhen(['staging', 'deploy', '--no-release-image', '--full'], /batch 1 of 2 \(i-[0-9a-f]+\): running/, { cwd: project.root, env: project.env, kill: true });
    const out = /batch 1 of 2 \((i-[0-9a-f]+)\): running/.exec(killed.output)?.[1] ?? '';
    expect(out, killed.output).toMatch(/^i-/);
    // What the killed run left: its instance out of the load balancer (a Classic Load Balancer never registers
    // it by itself), health replacement suspended, temporary SSH open.
    expect(await inService()).not.toContain(out);
    expect(await taggedOutOfRotation()).toEqual([out]);
    expect((await suspendedProcesses()).sort()).toEqual(['HealthCheck', 'ReplaceUnhealthy']);
    // Killed inside its playbooks: the vars directory holding the database password is left (the CLIs of
    // this test run share the run's TMPDIR, test/support/run-tmpdir.ts).
    expect(await varsDirectories()).toHaveLength(1);
    const status = await project.argos(['staging', 'status']);
    expect(status.stdout).toContain(`app instance ${out} was taken out of the load balancer by a rolling deploy that did not finish: argos staging deploy or commission registers it again`);
    expect(status.stdout).toMatch(/argos-staging-app has HealthCheck, ReplaceUnhealthy suspended by an argos run that did not finish/);
    // --all-at-once: a deploy that never touches the load balancer itself (a rolling one registers every
    // batch again anyway), so only the leftover's repair can bring the instance back.
    const rerun = await project.argos(['staging', 'deploy', '--no-release-image', '--all-at-once', '--force-unlock']);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain(`registered ${out} with ${LB} again: a rolling deploy that did not finish had taken them out`);
    expect(rerun.stdout).toMatch(/resumed HealthCheck, ReplaceUnhealthy on argos-staging-app/);
    await waitServing(2);
    expect(await taggedOutOfRotation()).toEqual([]);
    expect(await suspendedProcesses()).toEqual([]);
    expect(await temporarySshRules()).toEqual([]);
    // The re-run removed the killed run's vars directory (and its own).
    expect(await varsDirectories()).toEqual([]);
    expect((await project.argos(['staging', 'status'])).stdout).not.toMatch(/did not finish/);
  }, 1_200_000);

  it('Ctrl-C (twice) during decommission exits 130; the re-run finishes, and nothing leaked', async () => {
    const result = await interrupt(['decommission', '--yes', '--skip-final-snapshot'], /▸ app servers, launch templates and load balancer/, true);
    expect(result.exitCode).toBe(130);
    expect(result.output).toMatch(/interrupted twice; exiting without finishing cleanup|interrupted: run `argos staging decommission` again to finish what is left/);
    let rerun = await project.argos(['staging', 'decommission', '--yes', '--skip-final-snapshot']);
    if (/interrupted twice/.test(result.output)) {
      // Exited at once: the lock stays, and the re-run names the run that is gone and how to break it.
      expect(rerun.exitCode).toBe(1);
      expect(rerun.stderr).toMatch(/staging is locked by .*--force-unlock\. That run is no longer running \(no process \d+ on this host\): it was killed\./);
      rerun = await project.argos(['staging', 'decommission', '--yes', '--skip-final-snapshot', '--force-unlock']);
    }
    expect(rerun.exitCode).toBe(0);
    expect((await project.argos(['staging', 'clean', '--yes'])).exitCode).toBe(0);
    const account = await snapshotAccount(project.clients);
    expect(account).toMatchObject({ instances: [], securityGroups: [], images: [], launchTemplates: [], loadBalancers: [], autoScalingGroups: [], databases: [], databaseSubnetGroups: [] });
    expect(await temporarySshRules()).toEqual([]);
    expect(await instanceMachinesSettled(0)).toEqual([]);
    expect(project.harness.cloud.machines()).toEqual([]);
  }, 1_200_000);
});
