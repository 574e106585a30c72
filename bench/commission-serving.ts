/**
 * Commission time to serving, modelled (issue 20, item 1): the real
 * `commission` (src/commands/commission.ts) on the modelled AWS account of
 * test/support/modelled-aws.ts, where an instance is InService only once the
 * app is on it and the group replaces one that is not after its grace period.
 * Measures, on the virtual clock, the time from the start of the command to
 * the first instance InService behind the load balancer ("the app answers
 * through the load balancer"), for a first environment (bake, database, release
 * image, app servers) and then, in the same account, a second one (the image
 * reused). Each is set against its lower bound from the same model parameters:
 *
 * - first:  max(bake, database) + boot + configuration + 2 health checks,
 *   bake = running + SSH ready + image.yml + image available;
 * - second: max(database, boot + configuration + 2 health checks);
 *
 * boot = running + SSH ready; configuration = one site.yml run; a health check
 * = the load balancer's interval (10 s, HealthyThreshold 2, as
 * src/autoscaling/load-balancer.ts configures it). Every step's start and end
 * is kept for the Gantt chart of BENCHMARKS.md. Modelled, not measured.
 */
import { join } from 'node:path';
import { commission } from '../src/commands/commission.js';
import type { Context } from '../src/context.js';
import { makeNames } from '../src/names.js';
import type { CommissionOptions } from '../src/options.js';
import { DEFAULT_PARAMETERS, createModelledRun, type ModelParameters } from '../test/support/modelled-aws.js';
import { RecordingReporter } from '../test/support/recording-reporter.js';

/** The load balancer's health check interval and healthy threshold (src/autoscaling/load-balancer.ts). */
const HEALTH_CHECK_SECONDS = 10;
const HEALTHY_THRESHOLD = 2;

/** One step of a modelled commission, in seconds from the command's start. */
export interface GanttStep {
  title: string;
  start: number;
  end: number;
}

/** One modelled commission: when the app first served, its lower bound, and its steps. */
export interface ServingRun {
  /** 'first environment' or 'second environment, image reused'. */
  label: string;
  /** Seconds from the start of the command to the first instance InService. */
  servingSeconds: number;
  /** Seconds until the command returned. */
  commandSeconds: number;
  boundSeconds: number;
  /** How the bound is made up, in words and seconds. */
  boundFormula: string;
  ratio: number;
  goal: number;
  steps: GanttStep[];
}

/** The lower bounds' terms from the model's parameters, in seconds. */
export function boundTerms(p: ModelParameters = DEFAULT_PARAMETERS): { bake: number; database: number; boot: number; configure: number; checks: number } {
  const s = (ms: number) => ms / 1000;
  return {
    bake: s(p.instanceRunningMs + p.sshReadyMs + p.imagePlaybookMs + p.imageAvailableMs),
    database: s(p.databaseAvailableMs),
    boot: s(p.instanceRunningMs + p.sshReadyMs),
    configure: s(p.deployPlaybookMs),
    checks: HEALTHY_THRESHOLD * HEALTH_CHECK_SECONDS,
  };
}

/** The Context of `argos <env> commission` for another environment of the same project and account. */
function contextFor(base: Context<CommissionOptions>, env: string, reporter: RecordingReporter): Context<CommissionOptions> {
  const hosts = join(base.paths.root, 'hosts');
  return {
    ...base,
    env,
    names: makeNames(base.config.appName, env),
    reporter,
    paths: {
      ...base.paths,
      hostsFile: join(hosts, `hosts_${env}`),
      knownHostsFile: join(hosts, `known_hosts_${env}`),
      logFile: join(base.paths.root, 'logs', `argos-${env}.log`),
    },
  };
}

/** Steps of a recorded run relative to `origin` (virtual ms), in seconds. */
function ganttOf(reporter: RecordingReporter, origin: number, end: number): GanttStep[] {
  return reporter.steps.map((step) => ({ title: step.title, start: (step.start - origin) / 1000, end: ((step.end ?? end) - origin) / 1000 }));
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * Commissions `staging` on an empty modelled account, then `production` in the
 * same account (the image reused), and returns both runs' time to serving.
 */
export async function measureCommissionServing(): Promise<ServingRun[]> {
  const run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 } });
  try {
    const terms = boundTerms(run.aws.parameters);
    const runs: ServingRun[] = [];
    const measure = async (ctx: Context<CommissionOptions>, reporter: RecordingReporter, label: string, bound: number, formula: string, goal: number) => {
      const origin = run.clock.elapsed();
      await commission(ctx);
      const end = run.clock.elapsed();
      const served = run.aws.firstInServiceAt(ctx.names.loadBalancer);
      if (served === undefined) throw new Error(`${label}: no instance of ${ctx.names.loadBalancer} was InService when commission returned`);
      const servingSeconds = round1((served - origin) / 1000);
      runs.push({ label, servingSeconds, commandSeconds: round1((end - origin) / 1000), boundSeconds: bound, boundFormula: formula, ratio: Math.round((servingSeconds / bound) * 1000) / 1000, goal, steps: ganttOf(reporter, origin, end) });
    };
    const firstBound = Math.max(terms.bake, terms.database) + terms.boot + terms.configure + terms.checks;
    await measure(run.ctx, run.reporter, 'first environment', firstBound,
      `max(bake ${terms.bake}, database ${terms.database}) + boot ${terms.boot} + configuration ${terms.configure} + 2 checks ${terms.checks}`, 1.1);
    const secondReporter = new RecordingReporter({ now: () => run.clock.elapsed() });
    const secondBound = Math.max(terms.database, terms.boot + terms.configure + terms.checks);
    await measure(contextFor(run.ctx, 'production', secondReporter), secondReporter, 'second environment, image reused', secondBound,
      `max(database ${terms.database}, boot ${terms.boot} + configuration ${terms.configure} + 2 checks ${terms.checks})`, 1.1);
    return runs;
  } finally {
    await run.dispose();
  }
}

/**
 * A text Gantt chart of `steps`: one row per step, `width` characters for the
 * span from 0 to `total` seconds, `#` where the step ran, and a `|` column
 * where the app first served.
 */
export function renderGantt(steps: readonly GanttStep[], total: number, servedAt: number, width = 60): string {
  const column = (seconds: number) => Math.min(width - 1, Math.floor((seconds / total) * width));
  const titleWidth = Math.max(...steps.map((step) => step.title.length), 'app answers through the load balancer'.length);
  const row = (title: string, start: number, end: number, bar: string) =>
    `${title.padEnd(titleWidth)} ${start.toFixed(1).padStart(7)} ${end.toFixed(1).padStart(7)}  ${bar}`;
  const served = column(servedAt);
  const lines = steps.map((step) => {
    const from = column(step.start);
    const to = Math.max(from, column(step.end));
    const cells = Array.from({ length: width }, (_, index) => (index >= from && index <= to ? '#' : index === served ? '|' : '.'));
    return row(step.title, step.start, step.end, cells.join(''));
  });
  const marker = Array.from({ length: width }, (_, index) => (index === served ? '|' : ' ')).join('');
  return [`${'step'.padEnd(titleWidth)} ${'start s'.padStart(7)} ${'end s'.padStart(7)}  0 s … ${total.toFixed(0)} s`, ...lines, row('app answers through the load balancer', servedAt, servedAt, marker)].join('\n');
}
