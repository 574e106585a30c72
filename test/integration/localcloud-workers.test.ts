/**
 * Worker servers on the local cloud (issue 18): every instance a real systemd
 * machine, the broker a real RabbitMQ and Redis, the real CLI and SDK through
 * the harness in front of moto.
 *
 * commission --with-broker --with-workers --workers-min-size 0 makes the
 * workers' group with no instance; the app enqueues a task through the
 * broker (its /enqueue, reached through the load balancer's local port), and
 * nothing runs it. Then the group is raised to one instance with the SDK — no
 * argos command, no Ansible run on it: the worker is what the release image
 * and the worker's user data make of a fresh instance — and that worker must
 * run the task within its boot + 60 s, as the app's /result says (with the
 * worker's host name). A deploy then finds it as wanted and skips it after one
 * check (roles/converged), and a new commit updates only its code and restarts
 * it. decommission leaves no machine.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAutoScalingGroup } from '../../src/autoscaling.js';
import { waitFor } from '../../localcloud/proc.js';
import { makeCloudProject, type CloudProject } from '../support/cloud-project.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();
const LB = 'argos-staging-elb';
const WORKERS = 'argos-staging-worker';

/** What the sample app's /result/<id> answers. */
interface TaskAnswer {
  state: string;
  result: { sum: number; host: string } | null;
}

describe.skipIf(!capability.ok)(`worker servers on the local cloud${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let project: CloudProject;
  const log: string[] = [];
  let taskId = '';

  const get = async <T>(path: string): Promise<T> => {
    const url = project.harness.balancing.urlOf(LB);
    if (!url) throw new Error(`the load balancer ${LB} has no local port`);
    const response = await fetch(`${url}${path}`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    project = await makeCloudProject({ name: process.env['LOCALCLOUD_WORKERS_NAME'] ?? 'wk', log: (line) => log.push(line) });
  }, 600_000);

  afterAll(async () => {
    await project?.stop();
    if (log.length > 0) process.stdout.write(`harness log (last 60 lines):\n  ${log.slice(-60).join('\n  ')}\n`);
  }, 300_000);

  it('commission --with-broker --with-workers --workers-min-size 0 makes an empty workers group; a task the app enqueues waits', async () => {
    // The broker binds its private address, which the role takes from the default route's interface
    // (default_ipv4): the cloud's sealed network has no default route, so name the address another way.
    await project.writeConfig({ broker_bind_address: "{{ ansible_facts['all_ipv4_addresses'] | first }}" });
    const result = await project.argos(['staging', 'commission', '--yes', '--with-broker', '--with-workers', '--workers-min-size', '0', '--workers-max-size', '2']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const group = await findAutoScalingGroup(project.clients.autoScaling, WORKERS);
    expect(group).toMatchObject({ MinSize: 0, MaxSize: 2, DesiredCapacity: 0, HealthCheckType: 'EC2' });
    expect(group?.Instances ?? []).toEqual([]);
    // The app enqueues through the broker; no worker exists, so it stays pending.
    taskId = (await get<{ task_id: string }>('/enqueue?x=2&y=3')).task_id;
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await get<TaskAnswer>(`/result/${taskId}`)).toMatchObject({ state: 'PENDING', result: null });
  }, 1_800_000);

  it('a worker the group launches by itself (desired 0 → 1, no argos command) runs the task within its boot + 60 s', async () => {
    const asked = Date.now();
    await project.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: WORKERS, DesiredCapacity: 1 }));
    const instanceId = await waitFor(
      'the workers group to launch an instance',
      async () => (await findAutoScalingGroup(project.clients.autoScaling, WORKERS))?.Instances?.[0]?.InstanceId,
      120_000,
      1_000,
    );
    const done = await waitFor(
      'the task to be run',
      async () => {
        // An app server busy or restarting is not the question here: ask again.
        const answer = await get<TaskAnswer>(`/result/${taskId}`).catch(() => undefined);
        return answer?.state === 'SUCCESS' ? { answer, at: Date.now() } : undefined;
      },
      600_000,
      1_000,
    );
    // The worker's boot: the cloud-init stand-in writes this once the user data (which enables the worker) has run.
    const machine = project.harness.cloud.machine(instanceId);
    if (!machine) throw new Error(`no machine for ${instanceId}`);
    const bootFinished = await readFile(join(machine.root, 'var/lib/localcloud/instances', instanceId, 'boot-finished'), 'utf8');
    const bootedAt = Date.parse(bootFinished.split(' ')[0] ?? '');
    expect(Number.isNaN(bootedAt)).toBe(false);
    const userDataRuns = await readFile(join(machine.root, 'var/lib/localcloud/instances', instanceId, 'user-data.runs'), 'utf8');
    expect(userDataRuns).toMatch(/rc=0\n$/);
    log.push(`worker ${instanceId}: booted ${((bootedAt - asked) / 1000).toFixed(1)} s after desired 0 → 1; task done ${((done.at - bootedAt) / 1000).toFixed(1)} s after its boot`);
    expect(done.answer.result).toEqual({ sum: 5, host: machine.hostname });
    // boot-finished has whole seconds: up to 1 s early.
    expect(done.at - bootedAt).toBeLessThanOrEqual(61_000);
  }, 900_000);

  it('a deploy skips the worker after one check; a new commit updates only its code and restarts it', async () => {
    const logFile = join(project.root, 'logs', 'argos-staging.log');
    /** The worker play's part of what the deploy logged. */
    const deployWorkers = async (): Promise<string> => {
      const seen = (await readFile(logFile, 'utf8')).length;
      const result = await project.argos(['staging', 'deploy', '--no-release-image']);
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      // The log's lines start with a timestamp.
      const added = (await readFile(logFile, 'utf8')).slice(seen);
      const start = added.indexOf('PLAY [Configure the workers]');
      expect(start).toBeGreaterThanOrEqual(0);
      return added.slice(start, added.indexOf('PLAY RECAP', start));
    };
    // The worker the group launched from the release image is as a deploy would make it.
    const unchanged = await deployWorkers();
    expect(unchanged).toContain('Nothing differs: this server is skipped.');
    expect(unchanged).not.toMatch(/TASK \[worker : [^\]]+\][^\n]*\n[^\n]*(ok|changed): \[/);
    // A new commit: the code tasks and the worker's restart only, and the restarted worker runs tasks.
    const commit = await project.releaseSampleApp('2');
    const updated = await deployWorkers();
    expect(updated).toContain('Only the code differs: updating the code.');
    expect(updated).toContain(`wanted main (${commit.slice(0, 12)})`);
    expect(updated).toMatch(/RUNNING HANDLER \[Restart the Celery worker for the new code\][^\n]*\n[^\n]*changed: \[/);
    expect(updated).not.toMatch(/TASK \[worker : [^\]]+\][^\n]*\n[^\n]*(ok|changed): \[/);
    const id = (await get<{ task_id: string }>('/enqueue?x=4&y=5')).task_id;
    const answer = await waitFor('the restarted worker to run a task', async () => {
      const found = await get<TaskAnswer>(`/result/${id}`).catch(() => undefined);
      return found?.state === 'SUCCESS' ? found : undefined;
    }, 120_000, 1_000);
    expect(answer.result?.sum).toBe(9);
  }, 900_000);

  it('status shows the worker, and decommission leaves no machine', async () => {
    const status = await project.argos(['staging', 'status']);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toMatch(/worker instance\s+argos-staging-worker\s+i-[0-9a-f]+\s+InService\/Healthy/);
    const decommissioned = await project.argos(['staging', 'decommission', '--yes', '--skip-final-snapshot']);
    expect(decommissioned.stderr).toBe('');
    expect(decommissioned.exitCode).toBe(0);
    await waitFor('every instance machine gone', () => (project.harness.cloud.machines().length === 0 ? true : undefined), 180_000, 500);
    expect(project.harness.cloud.machines()).toEqual([]);
  }, 1_200_000);
});
