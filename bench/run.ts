/**
 * `npm run bench`: measures, side by side in one run, how fast argos starts,
 * the modelled commission critical path, deploy speed against the original's
 * way, and how its AWS calls grow with the account; writes BENCHMARKS.md.
 * Not part of `npm test`. Needs dist/ (`npm run build`), moto_server, and for
 * the deploy section the local cloud (root, systemd-nspawn, ansible-playbook):
 * without it the section is skipped and the report says why.
 *
 * Options (environment):
 * - BENCH_QUICK=1: a smoke test (fewest runs, 1 target).
 * - BENCH_SECTIONS=startup,commission,deploy,api[,loopback]: which sections run (default
 *   the first four; loopback is issue 10's deploy on local targets over loopback).
 * - BENCH_CLOUD_RUNS (1; the order alternates row by row), BENCH_CLOUD_NAME (bn): the local cloud's runs and name.
 * - BENCH_MAX_MINUTES (75): the time bound; no row of local-cloud deploys starts after it (the report names the rows left out).
 * - BENCH_STARTUP_RUNS (20, at least 10), BENCH_MODEL_RUNS (5), BENCH_DEPLOY_RUNS (3),
 *   BENCH_DEPLOY_TARGETS (1,3): runs and target counts.
 * - BENCH_OUT: where the report goes (default BENCHMARKS.md in the repository).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/cli.js';
import { canRunLocalTarget } from '../test/support/local-target.js';
import { measureApiCalls } from './api-calls.js';
import { startBenchAccount, type BenchAccount } from './aws-account.js';
import { parameterSeconds, variant } from './commission-model.js';
import { measureCommissionServing } from './commission-serving.js';
import { measureModelledReleaseCost } from './release-model.js';
import { measureDeploySpeed } from './deploy-speed.js';
import { measureCloudDeploys } from './cloud-deploy.js';
import { canRunLocalCloud } from '../localcloud/cloud.js';
import { describeMachine } from './machine.js';
import { installInterruptHandler, stopOnInterrupt } from './interrupt.js';
import { renderReport, type BenchResults, type Skipped } from './report.js';
import setUpRunTmpdir from '../test/support/run-tmpdir.js';
import { measureStartup } from './startup.js';

/** Run by default; 'loopback' (issue 10's deploy on local targets over loopback) only when asked. */
const SECTIONS = ['startup', 'commission', 'deploy', 'api', 'loopback'] as const;
const DEFAULT_SECTIONS = ['startup', 'commission', 'deploy', 'api'];
type Section = (typeof SECTIONS)[number];

/** The run's settings, from the environment. */
interface Settings {
  quick: boolean;
  sections: Section[];
  startupRuns: number;
  modelRuns: number;
  deployRuns: number;
  deployTargets: number[];
  cloudRuns: number;
  cloudName: string;
  /** No new local-cloud deploy starts after this many minutes from the start of the run. */
  maxMinutes: number;
  out: string;
}

/** A positive whole number from `name`, else `fallback`. */
function count(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

function readSettings(): Settings {
  const quick = process.env['BENCH_QUICK'] === '1';
  const asked = (process.env['BENCH_SECTIONS'] ?? DEFAULT_SECTIONS.join(',')).split(',').map((name) => name.trim());
  const unknown = asked.filter((name) => !(SECTIONS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_SECTIONS: unknown section ${unknown.join(', ')} (use ${SECTIONS.join(', ')})`);
  const targets = (process.env['BENCH_DEPLOY_TARGETS'] ?? (quick ? '1' : '1,3')).split(',').map(Number);
  if (targets.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('BENCH_DEPLOY_TARGETS: comma-separated positive numbers, e.g. 1,3');
  return {
    quick,
    sections: asked as Section[],
    // The issue asks for at least 10 startup runs, also in quick mode.
    startupRuns: Math.max(10, count('BENCH_STARTUP_RUNS', quick ? 10 : 20)),
    modelRuns: count('BENCH_MODEL_RUNS', quick ? 2 : 5),
    deployRuns: count('BENCH_DEPLOY_RUNS', quick ? 1 : 3),
    deployTargets: targets,
    // One run per side per row, the order alternating row by row (ABBA over two rows): the run stays under an hour.
    cloudRuns: count('BENCH_CLOUD_RUNS', 1),
    cloudName: process.env['BENCH_CLOUD_NAME'] ?? 'bn',
    maxMinutes: count('BENCH_MAX_MINUTES', 75),
    out: process.env['BENCH_OUT'] ?? join(REPO_ROOT, 'BENCHMARKS.md'),
  };
}

/** Progress on stderr, with the time since the start. */
function logger(started: number): (line: string) => void {
  return (line) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

const notAsked: Skipped = { skipped: 'not in BENCH_SECTIONS' };

/** The modelled commission, with and without the deploy. */
async function commissionSection(runs: number, log: (line: string) => void): Promise<BenchResults['commission']> {
  const variants = [await variant(true, runs), await variant(false, runs)];
  log(`commission model: ratio ${variants.map((v) => `${v.ratio} (${v.deploy ? 'with' : 'without'} deploy)`).join(', ')}`);
  const serving = await measureCommissionServing();
  log(`commission model: time to serving / bound ${serving.map((run) => `${run.ratio} (${run.label})`).join(', ')}`);
  const releaseCost = await measureModelledReleaseCost();
  log(`commission model: the release image adds ${releaseCost.addedSeconds} s to a deploy`);
  return { variants, serving, releaseCost, parameters: parameterSeconds() };
}

/** The local cloud's deploys (items 2–4 of issue 20), or why they cannot run here. */
async function cloudSection(settings: Settings, started: number, log: (line: string) => void): Promise<BenchResults['deploy']> {
  const capability = canRunLocalCloud();
  if (!capability.ok) return { skipped: `the local cloud cannot run on this machine (${capability.reason ?? 'unknown reason'}); run npm run bench as root on Linux with systemd-nspawn` };
  try {
    return await measureCloudDeploys({ name: settings.cloudName, runs: settings.cloudRuns, rttsMs: [0, 50], deadline: started + settings.maxMinutes * 60_000 }, log);
  } catch (error) {
    // The report still gets written, saying what went wrong (the cloud is stopped by then).
    log(`cloud deploys failed: ${(error as Error).message}`);
    return { skipped: `failed: ${(error as Error).message.split('\n')[0] ?? ''} (the full message is on the bench's stderr)` };
  }
}

/** The deploy comparison over loopback, or why it cannot run here. */
async function loopbackSection(settings: Settings, log: (line: string) => void): Promise<BenchResults['loopback']> {
  const capability = canRunLocalTarget();
  if (!capability.ok) return { skipped: `no local target on this machine (${capability.reason ?? 'unknown reason'})` };
  const report = await measureDeploySpeed(settings.deployTargets, settings.deployRuns, log);
  log(`deploy speed: ratio ${report.results.map((r) => `${r.ratio} (${r.targets} target${r.targets === 1 ? '' : 's'})`).join(', ')}`);
  return report;
}

async function main(): Promise<void> {
  const started = performance.now();
  const log = logger(started);
  const settings = readSettings();
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  installInterruptHandler(log);
  // Every temporary project goes under one directory of this run, removed at its end, interrupted or not.
  const removeRunTmpdir = setUpRunTmpdir();
  const keepRunTmpdir = stopOnInterrupt('the run\'s temporary directory', () => removeRunTmpdir?.());
  try {
    await measure(settings, started, log);
  } finally {
    keepRunTmpdir();
    removeRunTmpdir?.();
  }
}

/** Runs the asked sections and writes the report. */
async function measure(settings: Settings, started: number, log: (line: string) => void): Promise<void> {
  const wants = (section: Section) => settings.sections.includes(section);
  log(`sections: ${settings.sections.join(', ')}${settings.quick ? ' (quick)' : ''}`);
  const machine = await describeMachine();

  let account: BenchAccount | undefined;
  let unregister = () => {};
  const results: Omit<BenchResults, 'totalMs'> = { machine, options: { quick: settings.quick, sections: settings.sections }, startup: notAsked, commission: notAsked, deploy: notAsked, loopback: notAsked, apiCalls: notAsked };
  try {
    if (wants('startup') || wants('api')) account = await startBenchAccount();
    const bench = account;
    if (bench) unregister = stopOnInterrupt('the bench account (moto)', () => bench.stop());
    if (account && wants('startup')) results.startup = await measureStartup(account, settings.startupRuns, log);
    if (account && wants('api')) results.apiCalls = await measureApiCalls(account, log);
  } finally {
    unregister();
    await account?.stop();
  }
  if (wants('commission')) results.commission = await commissionSection(settings.modelRuns, log);
  if (wants('deploy')) results.deploy = await cloudSection(settings, started, log);
  if (wants('loopback')) results.loopback = await loopbackSection(settings, log);

  await writeFile(settings.out, renderReport({ ...results, totalMs: performance.now() - started }));
  log(`wrote ${settings.out}`);
}

await main();
