/**
 * Deploys on the local cloud (issue 20, items 2–4): real systemd machines
 * behind a load balancer that really checks health (localcloud/), the real
 * CLI (`argos staging deploy`) against the original's invocation of the same
 * playbooks, with 0 ms and 50 ms added between the caller and the machines.
 *
 * Latency: this kernel has no `tc netem`, so the delay is added in the SSH
 * relay that the ssh_config's ProxyCommand runs (localcloud/lcnet.py
 * `--delay-ms 25`: 25 ms each way, 50 ms round trip), on both sides of the
 * comparison; traffic between machines (the database, the load balancer's
 * checks) stays fast, as inside a VPC.
 *
 * - argos: `argos staging deploy --all-at-once --no-release-image` (the same
 *   work as the original: every app server at once, in place; the release
 *   image and the rolling order are measured apart), as a user runs it: its
 *   AWS calls, temporary SSH, one ansible-playbook of site.yml with pipelining,
 *   a kept master connection and forks ≥ hosts.
 * - original (argos.cloud's manage.py): one `ansible-playbook -vvvv` per role
 *   (app.yml, database.yml: what site.yml runs without a broker), no
 *   pipelining, default forks, Ansible's default SSH arguments, on argos's
 *   hosts file, output to a file.
 * Every run starts with no SSH master connection (a fresh control-path folder,
 * whose masters are closed after it). Runs alternate in ABBA order.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstanceHealthCommand } from '@aws-sdk/client-elastic-load-balancing';
import { waitFor } from '../localcloud/proc.js';
import { runCli } from '../test/support/cli.js';
import { makeCloudProject, type CloudProject } from '../test/support/cloud-project.js';
import { measureSecondEnvironment, type SecondEnvResult } from './cloud-second-env.js';
import { runOriginalPlaybooks, withFreshControlPath } from './deploy-speed.js';
import { stopOnInterrupt } from './interrupt.js';
import { ratioOfMedians, round, summarize, timeMs, type Summary } from './stats.js';

const ENV = 'staging';
const LB = 'argos-staging-elb';
const GROUP = 'argos-staging-app';
/** The load balancer's health check interval on the local cloud, as argos configures it (src/autoscaling/load-balancer.ts). */
const CHECK_INTERVAL_SECONDS = 10;
/** What the original ran, one ansible-playbook each, in site.yml's order (no broker, no workers). */
const ORIGINAL_PLAYBOOKS = ['app.yml', 'database.yml'] as const;
/** The task timer callback (bench/callback_plugins/task_times.py). */
const CALLBACK_DIR = join(import.meta.dirname, 'callback_plugins');

/** One deploy kind × latency × host count: both sides. */
export interface CloudDeployCell {
  hosts: number;
  rttMs: number;
  kind: 'converged' | 'code change';
  argosMs: Summary;
  originalMs: Summary;
  /** argos median / original median. */
  ratio: number;
}

/** One task's time in argos's deploy (3 hosts, converged), at 0 and 50 ms. */
export interface TaskTiming {
  task: string;
  seconds0: number;
  seconds50: number;
  /** (50 ms time − 0 ms time) / 50 ms: the round trips the task waits for in sequence. */
  roundTrips: number;
}

/** Rolling against all at once, 3 app servers, a request loop through the load balancer during each. */
export interface RollingResult {
  rollingMs: number;
  allAtOnceMs: number;
  ratio: number;
  rolling: LoopCount;
  allAtOnce: LoopCount;
}

/** What a request loop saw. */
export interface LoopCount {
  requests: number;
  failed: number;
  /** The versions that answered, in order of first appearance. */
  versions: string[];
}

/** Scale-out time to serve, and what the release image adds to a deploy. */
export interface ScaleOutResult {
  /** Desired capacity 1 → 3 until both new instances are InService. */
  inServiceMs: number;
  /** Desired capacity change until the last new machine answered SSH (launch + boot). */
  bootMs: number;
  /** boot + 3 health-check intervals. */
  boundMs: number;
  ratio: number;
}

/** Everything this section measured. */
export interface CloudDeployReport {
  commissionMs: number;
  /** The commission's own step times line. */
  commissionSteps: string;
  /** A second environment's commission, its database kept `creating` (bench/cloud-second-env.ts). */
  secondEnv: SecondEnvResult;
  cells: CloudDeployCell[];
  /** argos at 50 ms / argos at 0 ms, per host count and kind. */
  latencyCost: { hosts: number; kind: string; ratio: number }[];
  /** Per-task times of the converged deploy of 3 app servers. */
  tasks: TaskTiming[];
  /** Per-task times of the code-change deploy of 1 app server (the code path: the most remote tasks per server). */
  codeTasks: TaskTiming[];
  scaleOut: ScaleOutResult;
  /** A converged deploy with the release image against one without (3 hosts, 0 ms). */
  releaseImage: { withMs: number; withoutMs: number; addedMs: number };
  rolling: RollingResult;
  runs: number;
  /** Rows not measured because the time bound had passed. */
  skippedCells: string[];
}

/** The ssh_config of the cloud with the relay delaying each direction by `oneWayMs` (rewritten from the cloud's current one). */
async function writeDelayedSshConfig(project: CloudProject, oneWayMs: number): Promise<string> {
  const source = await readFile(project.harness.cloud.sshConfigPath, 'utf8');
  const delayed = source.replace(/^(\s*ProxyCommand .*stdio %h %p)(?: --delay-ms \d+)?$/m, `$1 --delay-ms ${oneWayMs}`);
  if (delayed === source) throw new Error(`no ProxyCommand relay in ${project.harness.cloud.sshConfigPath} to add the delay to`);
  const path = join(project.root, 'hosts', `ssh_config_delay_${oneWayMs}`);
  await writeFile(path, delayed);
  return path;
}

/** The ssh_config for a round trip of `rttMs` (0: the cloud's own). */
async function sshConfigFor(project: CloudProject, rttMs: number): Promise<string> {
  return rttMs === 0 ? project.harness.cloud.sshConfigPath : writeDelayedSshConfig(project, rttMs / 2);
}

/** Runs `argos <args>` in the project with a fresh SSH control path and, if given, the task timer writing to `taskTimes`. */
async function argos(project: CloudProject, args: string[], taskTimes?: string): Promise<void> {
  await withFreshControlPath(async (dir) => {
    const env: Record<string, string> = { ...project.env, ANSIBLE_SSH_CONTROL_PATH_DIR: dir };
    if (taskTimes) Object.assign(env, { ANSIBLE_CALLBACK_PLUGINS: CALLBACK_DIR, ANSIBLE_CALLBACKS_ENABLED: 'task_times', ARGOS_TASK_TIMES: taskTimes });
    const result = await runCli(args, { cwd: project.root, env, timeout: 1_800_000 });
    if (result.exitCode !== 0) throw new Error(`argos ${args.join(' ')} failed (exit ${result.exitCode}):\n${(result.stdout + result.stderr).split('\n').slice(-30).join('\n')}`);
  });
}

/** argos's deploy, every app server at once, in place. */
async function argosDeploy(project: CloudProject, sshConfig: string, taskTimes?: string): Promise<void> {
  await argos(project, [ENV, 'deploy', '--all-at-once', '--no-release-image', '--ssh-config', sshConfig], taskTimes);
}

/** The original's deploy: one `ansible-playbook -vvvv` per role on argos's hosts file, no pipelining, default forks. */
async function originalDeploy(project: CloudProject, sshConfig: string): Promise<void> {
  await runOriginalPlaybooks({
    root: project.root,
    inventory: join(project.root, 'hosts', `hosts_${ENV}`),
    keyFile: join(project.root, 'keys', 'argos-cloud.pem'),
    user: project.harness.cloud.user,
    playbooks: ORIGINAL_PLAYBOOKS,
    sshArgs: `-F ${sshConfig}`,
    // Its control-path default and ~/.ansible stay in the project, as argos's do (runCli's HOME).
    env: { HOME: project.root },
  });
}

/**
 * Waits (at most 3 min, never failing) until the cloud runs only `servers` app
 * servers and the database: a bake's or release build's temporary machine
 * still being removed, or an image being recorded, would load the machine
 * during the next timed deploy (seen in a run: the first rows after an image
 * were the slowest).
 */
async function settle(project: CloudProject, servers: number, log: (line: string) => void): Promise<void> {
  const expected = servers + 1;
  try {
    await waitFor(`${expected} machines`, () => (project.harness.cloud.machines().length <= expected ? true : undefined), 180_000, 1_000);
  } catch {
    log(`cloud deploys: still ${project.harness.cloud.machines().length} machines after 3 min (expected ${expected}); measuring anyway`);
  }
}

/** The instances the load balancer reports InService. */
async function inService(project: CloudProject): Promise<string[]> {
  const states = (await project.clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }))).InstanceStates ?? [];
  return states.filter((state) => state.State === 'InService').map((state) => state.InstanceId ?? '').sort();
}

/** Sets the group's desired capacity and waits until that many instances are InService; returns when the new machines came up (from the harness log). */
async function scaleTo(project: CloudProject, count: number, upTimes: Map<string, number>): Promise<{ ms: number; lastUp: number | undefined }> {
  const before = new Set(await inService(project));
  const started = performance.now();
  await project.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: count }));
  await waitFor(`${count} instances in service`, async () => ((await inService(project)).length === count ? true : undefined), 600_000, 250);
  const ms = performance.now() - started;
  const fresh = (await inService(project)).filter((id) => !before.has(id));
  const ups = fresh.map((id) => upTimes.get(id)).filter((at): at is number => at !== undefined);
  return { ms, lastUp: ups.length === fresh.length && ups.length > 0 ? Math.max(...ups) - started : undefined };
}

/**
 * Requests through the load balancer while `during` runs: one every 20 ms,
 * each with a 5 s timeout, at most 20,000 (127.0.0.1 only: the load balancer's local port).
 */
async function requestLoop(url: string, during: () => Promise<void>): Promise<{ ms: number; count: LoopCount }> {
  let done = false;
  const count: LoopCount = { requests: 0, failed: 0, versions: [] };
  const loop = (async () => {
    while (!done && count.requests < 20_000) {
      count.requests += 1;
      try {
        const response = await fetch(`${url}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
        if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
        const version = ((await response.json()) as { version: string }).version;
        // In order of first appearance: while rolling, old and new servers answer in turn.
        if (!count.versions.includes(version)) count.versions.push(version);
      } catch {
        count.failed += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    return { ms: await timeMs(during), count };
  } finally {
    done = true;
    await loop;
  }
}

/** Per-task times (summed over a run's JSON lines) from the callback's file, by task name. */
async function readTaskTimes(path: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  const text = await readFile(path, 'utf8').catch(() => '');
  for (const line of text.split('\n').filter(Boolean)) {
    // Ansible's task names already carry their role ("app : Install nginx").
    const record = JSON.parse(line) as { task: string; seconds: number };
    times.set(record.task, (times.get(record.task) ?? 0) + record.seconds);
  }
  return times;
}

/** The rows whose argos deploy is timed task by task (its first run at each latency): `<hosts>-<kind>`. */
const TIMED_ROWS = ['3-converged', '1-code change'];

/** Each task's time at 0 ms and at 50 ms (one run each), and the round trips the difference makes. */
async function compareTaskTimes(file0: string | undefined, file50: string | undefined): Promise<TaskTiming[]> {
  const tasks0 = await readTaskTimes(file0 ?? '');
  const tasks50 = await readTaskTimes(file50 ?? '');
  return [...tasks0].map(([task, seconds0]) => {
    const seconds50 = tasks50.get(task) ?? Number.NaN;
    return { task, seconds0: round(seconds0, 2), seconds50: round(seconds50, 2), roundTrips: round((seconds50 - seconds0) / 0.05, 0) };
  });
}

/** The bench's settings for this section. */
export interface CloudDeploySettings {
  /** Cloud name (1–4 characters), distinct from other engineers' clouds. */
  name: string;
  /** ABBA rounds: each side runs this many times per cell (even: whole ABBA blocks). */
  runs: number;
  rttsMs: readonly number[];
  /** performance.now() after which no new row of deploys starts (the bench's time bound); the report names the rows left out. */
  deadline: number;
}

/**
 * Commissions a local cloud, then measures: deploys of 1 app server (0 and 50 ms;
 * converged and code change; alternating order), scale-out 1 → 3 with no argos
 * command, rolling against all at once with a request loop, the release
 * image's cost, and the same deploys on 3 app servers with per-task timings.
 * Stops the cloud however it ends.
 */
export async function measureCloudDeploys(settings: CloudDeploySettings, log: (line: string) => void): Promise<CloudDeployReport> {
  const upTimes = new Map<string, number>();
  const harnessLog: string[] = [];
  const project = await makeCloudProject({
    name: settings.name,
    log: (line) => {
      harnessLog.push(line);
      const up = /^(i-[0-9a-f]+): machine up/.exec(line);
      if (up?.[1]) upTimes.set(up[1], performance.now());
    },
  });
  const unregister = stopOnInterrupt(`the local cloud ${settings.name}`, () => project.stop());
  try {
    await mkdir(join(project.root, 'hosts'), { recursive: true });
    log('cloud deploys: commission (1 app server) on the local cloud');
    let commissionSteps = '';
    const commissionMs = await timeMs(async () => {
      const result = await runCli([ENV, 'commission', '--yes'], { cwd: project.root, env: project.env, timeout: 1_800_000 });
      if (result.exitCode !== 0) throw new Error(`commission failed (exit ${result.exitCode}):\n${result.stdout.split('\n').slice(-30).join('\n')}\n${result.stderr}\nharness: ${harnessLog.slice(-20).join('\n')}`);
      commissionSteps = /step times:\s*(.*)/.exec(result.stdout)?.[1] ?? '';
    });
    log(`cloud deploys: commissioned in ${(commissionMs / 1000).toFixed(0)} s`);
    log('cloud deploys: a second environment, the image reused, its database created in a set time');
    const secondEnv = await measureSecondEnvironment(project, commissionSteps, log);
    let version = 1;
    const cells: CloudDeployCell[] = [];
    /** The task-times files of the timed deploys, by `<hosts>-<kind>-<rtt>`: see {@link TIMED_ROWS}. */
    const taskFiles = new Map<string, string>();
    // The order alternates run by run across the rows too (AB, BA, …): with one run per side a row is AB or BA,
    // and consecutive rows make ABBA blocks, so a drift in the machine's load falls on both sides alike.
    let turn = 0;

    const skippedCells: string[] = [];
    const measureCells = async (hosts: number) => {
      // Converged first at every latency, then the code change (TIMED_ROWS are timed task by task).
      for (const kind of ['converged', 'code change'] as const) {
        for (const rttMs of settings.rttsMs) {
          if (performance.now() > settings.deadline) {
            skippedCells.push(`${hosts} app server${hosts === 1 ? '' : 's'}, ${rttMs} ms, ${kind}`);
            continue;
          }
          const times = { argos: [] as number[], original: [] as number[] };
          for (let round = 0; round < settings.runs; round += 1) {
            const order = turn++ % 2 === 0 ? (['argos', 'original'] as const) : (['original', 'argos'] as const);
            for (const side of order) {
              if (kind === 'code change') {
                version += 1;
                await project.releaseSampleApp(String(version));
              }
              // Rewritten before each run: the cloud's ssh_config follows its machines.
              const sshConfig = await sshConfigFor(project, rttMs);
              const key = `${hosts}-${kind}-${rttMs}`;
              const timed = TIMED_ROWS.includes(`${hosts}-${kind}`) && side === 'argos' && !taskFiles.has(key) ? join(project.root, `tasks-${key.replaceAll(' ', '-')}.jsonl`) : undefined;
              if (timed) taskFiles.set(key, timed);
              const ms = await timeMs(() => (side === 'argos' ? argosDeploy(project, sshConfig, timed) : originalDeploy(project, sshConfig)));
              times[side].push(ms);
              log(`cloud deploys: ${hosts} host(s), ${rttMs} ms, ${kind}, ${side}: ${(ms / 1000).toFixed(1)} s`);
            }
          }
          const argosMs = summarize(times.argos);
          const originalMs = summarize(times.original);
          cells.push({ hosts, rttMs, kind, argosMs, originalMs, ratio: ratioOfMedians(argosMs, originalMs) });
        }
      }
    };

    // A first, untimed deploy converges the app server the commission made (and writes the hosts file).
    await argosDeploy(project, project.harness.cloud.sshConfigPath);
    await settle(project, 1, log);
    await measureCells(1);

    log('cloud deploys: scale-out 1 → 3, no argos command');
    const scaled = await scaleTo(project, 3, upTimes);
    const bootMs = scaled.lastUp ?? Number.NaN;
    const boundMs = bootMs + 3 * CHECK_INTERVAL_SECONDS * 1000;
    const scaleOut: ScaleOutResult = { inServiceMs: scaled.ms, bootMs, boundMs, ratio: round(scaled.ms / boundMs, 3) };
    log(`cloud deploys: scale-out in service after ${(scaled.ms / 1000).toFixed(1)} s (boot ${(bootMs / 1000).toFixed(1)} s)`);

    // The new instances run the commission's release image: converge them before timing.
    const cloudConfig = project.harness.cloud.sshConfigPath;
    await argosDeploy(project, cloudConfig);

    // Rolling and the release image before the 3-server rows: if the time bound cuts the run short, it cuts rows.
    log('cloud deploys: rolling against all at once, with a request loop');
    const url = project.harness.balancing.urlOf(LB);
    if (!url) throw new Error(`the load balancer ${LB} has no local port`);
    version += 1;
    await project.releaseSampleApp(String(version));
    const rolling = await requestLoop(url, () => argos(project, [ENV, 'deploy', '--no-release-image', '--ssh-config', cloudConfig]));
    version += 1;
    await project.releaseSampleApp(String(version));
    const allAtOnce = await requestLoop(url, () => argosDeploy(project, cloudConfig));
    log(`cloud deploys: rolling ${(rolling.ms / 1000).toFixed(1)} s (${rolling.count.failed} failed of ${rolling.count.requests}), all at once ${(allAtOnce.ms / 1000).toFixed(1)} s (${allAtOnce.count.failed} failed of ${allAtOnce.count.requests})`);

    log('cloud deploys: release image cost (converged deploy of 3, with and without)');
    const withMs = await timeMs(() => argos(project, [ENV, 'deploy', '--all-at-once', '--ssh-config', cloudConfig]));
    const withoutMs = await timeMs(() => argosDeploy(project, cloudConfig));

    await settle(project, 3, log);
    await measureCells(3);

    const tasks = await compareTaskTimes(taskFiles.get('3-converged-0'), taskFiles.get('3-converged-50'));
    const codeTasks = await compareTaskTimes(taskFiles.get('1-code change-0'), taskFiles.get('1-code change-50'));

    const latencyCost = cells
      .filter((cell) => cell.rttMs !== 0)
      .flatMap((cell) => {
        const base = cells.find((other) => other.rttMs === 0 && other.hosts === cell.hosts && other.kind === cell.kind);
        return base ? [{ hosts: cell.hosts, kind: cell.kind, ratio: ratioOfMedians(cell.argosMs, base.argosMs) }] : [];
      });
    return {
      commissionMs,
      commissionSteps,
      secondEnv,
      cells,
      latencyCost,
      tasks,
      codeTasks,
      scaleOut,
      releaseImage: { withMs, withoutMs, addedMs: withMs - withoutMs },
      rolling: { rollingMs: rolling.ms, allAtOnceMs: allAtOnce.ms, ratio: round(rolling.ms / allAtOnce.ms, 3), rolling: rolling.count, allAtOnce: allAtOnce.count },
      runs: settings.runs,
      skippedCells,
    };
  } finally {
    unregister();
    await project.stop();
  }
}
