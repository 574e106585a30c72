/**
 * Modelled commission time: runs the real `commission` (src/commands/commission.ts)
 * against the modelled AWS account of test/support/modelled-aws.ts on an event
 * clock, several times, and prints JSON: the modelled commission time (median,
 * min, max), the sequential sum of the same steps (what the original tool did:
 * bake, then database, then load balancer, then app servers, then deploy), and
 * their ratio (goal: ≤ 0.65). Since issue 16 the critical path holds the
 * release image too (image → release image → app servers → deploy), and the
 * model's instances are InService only with the app (from the release image).
 *
 * The figures are MODELLED, NOT MEASURED. The defaults (DEFAULT_PARAMETERS in
 * test/support/modelled-aws.ts) are typical durations, rounded:
 * - RDS PostgreSQL db.t3.micro, 20 GiB, single-AZ: "creating" then
 *   "backing-up", typically 5–10 minutes (RDS User Guide, "Creating an Amazon
 *   RDS DB instance": "can take several minutes"; common experience ~10) → 600 s.
 * - AMI from a 16 GiB EBS-backed instance (CreateImage reboots it and
 *   snapshots the volume; EC2 User Guide, "Create an Amazon EBS-backed AMI";
 *   a first snapshot of a fresh volume takes minutes) → 300 s pending → available.
 * - EC2 instance pending → running: typically under a minute → 30 s; SSH
 *   answering after that (boot, cloud-init, sshd) → 45 s.
 * - playbooks/image.yml on a fresh t3.small (apt upgrade, packages) → 420 s;
 *   playbooks/site.yml on the app servers → 120 s.
 * - Classic ELB CreateLoadBalancer → 5 s.
 * - An autoscaling instance InService behind the ELB (boot, app start, two
 *   healthy checks 10 s apart) → 180 s after the group launches it.
 * - Instance shutting-down → terminated → 30 s (an assumption).
 * - Any other API call → 0.2 s.
 * The waits poll with the real code's intervals, so polling slack is included.
 *
 * Run: node --input-type=module -e "import('vite').then((vite) => vite.runnerImport('./bench/commission-model.ts'))"
 * (vite, a dependency of vitest, runs TypeScript without a build; `npx tsx
 * bench/commission-model.ts` works too where tsx is installed.)
 * Options: RUNS=5 (runs per variant), DEPLOY=both|yes|no.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commission } from '../src/commands/commission.js';
import { DEFAULT_PARAMETERS, createModelledRun, runTiming } from '../test/support/modelled-aws.js';

interface RunResult {
  totalMs: number;
  sequentialMs: number;
  steps: Record<string, number>;
  calls: number;
}

async function runOnce(deploy: boolean): Promise<RunResult> {
  const run = await createModelledRun({ options: { deploy, minSize: 1, maxSize: 4 } });
  try {
    await commission(run.ctx);
    const timing = runTiming(run.reporter, run.clock.elapsed());
    return {
      totalMs: timing.totalMs,
      sequentialMs: timing.sequentialMs,
      steps: Object.fromEntries(timing.steps.map((step) => [step.title, step.ms / 1000])),
      calls: run.aws.calls.length,
    };
  } finally {
    await run.dispose();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Median, min and max of one figure, in seconds. */
export interface SecondsSpread {
  median: number;
  min: number;
  max: number;
}

/** One variant (with or without the deploy) of the modelled commission. */
export interface ModelVariant {
  deploy: boolean;
  runs: number;
  commissionSeconds: SecondsSpread;
  sequentialSumSeconds: SecondsSpread;
  ratio: number;
  goal: number;
  stepSeconds: Record<string, number> | undefined;
  apiCalls: number | undefined;
  wallClockMsPerRun: number;
}

/** Runs the modelled commission `runs` times (with or without the deploy) and summarizes it; bench/run.ts calls it. */
export async function variant(deploy: boolean, runs: number): Promise<ModelVariant> {
  const results: RunResult[] = [];
  const started = performance.now();
  for (let index = 0; index < runs; index += 1) results.push(await runOnce(deploy));
  const seconds = (ms: number) => Math.round(ms / 100) / 10;
  const totals = results.map((result) => result.totalMs);
  const sequential = results.map((result) => result.sequentialMs);
  return {
    deploy,
    runs,
    commissionSeconds: { median: seconds(median(totals)), min: seconds(Math.min(...totals)), max: seconds(Math.max(...totals)) },
    sequentialSumSeconds: { median: seconds(median(sequential)), min: seconds(Math.min(...sequential)), max: seconds(Math.max(...sequential)) },
    ratio: Math.round((median(totals) / median(sequential)) * 1000) / 1000,
    goal: 0.65,
    stepSeconds: results[0]?.steps,
    apiCalls: results[0]?.calls,
    wallClockMsPerRun: Math.round((performance.now() - started) / runs),
  };
}

/** The model's durations in seconds, by name (`databaseAvailableSeconds: 600`, …). */
export function parameterSeconds(): Record<string, number> {
  return Object.fromEntries(
    Object.entries(DEFAULT_PARAMETERS).flatMap(([key, value]) => (typeof value === 'number' ? [[key.replace(/Ms$/, 'Seconds'), value / 1000]] : [])),
  ) as Record<string, number>;
}

/** Prints the JSON report (when this file is run itself, not imported by bench/run.ts). */
async function main(): Promise<void> {
  const runs = Number(process.env['RUNS'] ?? 5);
  const which = process.env['DEPLOY'] ?? 'both';
  const variants = which === 'both' ? [true, false] : [which === 'yes'];
  const report = [];
  for (const deploy of variants) report.push(await variant(deploy, runs));
  console.log(
    JSON.stringify({ modelled: true, note: 'virtual time on a modelled AWS; the figures are modelled, not measured', parameters: parameterSeconds(), results: report }, null, 2),
  );
}

// Run directly (tsx bench/commission-model.ts, or the vite one-liner, which has no script path).
const entry = process.argv[1];
if (entry === undefined || import.meta.url === pathToFileURL(resolve(entry)).href) await main();
