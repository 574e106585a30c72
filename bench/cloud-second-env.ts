/**
 * A second environment's commission on the local cloud (issue 20, item 1, on
 * real machines): the image reused, and a database that stays `creating` for
 * {@link SECOND_ENV_DATABASE_SECONDS} (RDS takes minutes; the local one answers
 * in seconds unless told otherwise: localcloud/database.ts `createMs`). argos
 * configures the app servers meanwhile (playbooks/prepare.yml), then deploys
 * the rest once the database is available. Measured: when the app first
 * answered through the load balancer (a request every 250 ms), each step's
 * time, and how the first deploy splits into prepare.yml and the rest, against
 * the first environment's whole first deploy (its commission's playbooks). The
 * environment is decommissioned afterwards, so the timed deploys that follow
 * share the 2 cores with no more machines than before.
 */
import { runCli } from '../test/support/cli.js';
import type { CloudProject } from '../test/support/cloud-project.js';
import { round } from './stats.js';

const ENV = 'production';
const LB = 'argos-production-elb';
/** How long the second environment's database stays `creating`. */
export const SECOND_ENV_DATABASE_SECONDS = 90;
/** The load balancer's health check interval and healthy threshold, as argos configures them (src/autoscaling/load-balancer.ts). */
const CHECKS_SECONDS = 2 * 10;

/** What the second environment's commission measured, in seconds. */
export interface SecondEnvResult {
  /** How long the local database was kept `creating`. */
  databaseSeconds: number;
  /** The commission's database step: until argos saw it available (its wait polls). */
  databaseStepSeconds: number;
  /** From the start of `commission` until the app first answered 200 through its load balancer. */
  servingSeconds: number;
  commandSeconds: number;
  /** The steps' times (`configure the app servers while the database is created`, `run the playbooks`, …). */
  steps: Record<string, number>;
  /** playbooks/prepare.yml while the database was created (undefined: the step did not run it). */
  prepareSeconds: number | undefined;
  /** The deploy's playbooks once the database was available. */
  restSeconds: number;
  /** The first environment's first deploy, all of it (its commission's playbooks, the database already there). */
  firstDeploySeconds: number;
  /** max(the database step, the app servers' launch and boot + the whole first deploy + 2 health checks). */
  boundSeconds: number;
  ratio: number;
}

/** Seconds of a duration as src/reporter.ts formatDuration writes it: `12.3s`, `1m05s`, `1h02m`. */
function secondsOf(text: string): number {
  const [, a = '0', unit, b = '0'] = /^(\d+(?:\.\d+)?)(s|m|h)(?:(\d+)[sm])?$/.exec(text) ?? [];
  if (unit === 'h') return Number(a) * 3600 + Number(b) * 60;
  if (unit === 'm') return Number(a) * 60 + Number(b);
  return Number(a);
}

/** The commission's step times line (`name 1.2s, other 1m05s (a reason), …`) → seconds by step title. */
export function parseStepTimes(line: string): Record<string, number> {
  const steps: Record<string, number> = {};
  for (const match of line.matchAll(/(?:^|, )([^,(]+?) (\d+(?:\.\d+)?s|\d+m\d{2}s|\d+h\d{2}m)(?: \([^)]*\))?(?=, |$)/g)) {
    const [, title = '', duration = '0s'] = match;
    steps[title.trim()] = secondsOf(duration);
  }
  return steps;
}

/** Polls the environment's load balancer until the app answers 200, or `done` resolves; returns when it answered (performance.now()). */
async function watchServing(project: CloudProject, done: Promise<unknown>): Promise<number | undefined> {
  let finished = false;
  // Both ways: a rejected command must end the loop, and its rejection is the caller's to see (not unhandled here).
  const finish = (): void => {
    finished = true;
  };
  done.then(finish, finish);
  while (!finished) {
    const url = project.harness.balancing.urlOf(LB);
    if (url) {
      const answered = await fetch(`${url}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2_000) }).then((response) => response.status === 200, () => false);
      if (answered) return performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

/**
 * Commissions `production` beside the project's commissioned `staging`
 * (whose commission's step times are `firstSteps`), measures it, and
 * decommissions it again.
 */
export async function measureSecondEnvironment(project: CloudProject, firstSteps: string, log: (line: string) => void): Promise<SecondEnvResult> {
  project.harness.databases.setCreateMs(SECOND_ENV_DATABASE_SECONDS * 1000);
  try {
    const started = performance.now();
    const command = runCli([ENV, 'commission', '--yes'], { cwd: project.root, env: project.env, timeout: 1_800_000 });
    const [result, servedAt] = await Promise.all([command, watchServing(project, command)]);
    const commandSeconds = round((performance.now() - started) / 1000, 1);
    if (result.exitCode !== 0) throw new Error(`${ENV} commission failed (exit ${result.exitCode}):\n${(result.stdout + result.stderr).split('\n').slice(-30).join('\n')}`);
    if (servedAt === undefined) throw new Error(`${ENV} commission returned, but its load balancer never answered 200 while it ran`);
    const steps = parseStepTimes(/step times:\s*(.*)/.exec(result.stdout)?.[1] ?? '');
    const firstDeploySeconds = parseStepTimes(firstSteps)['run the playbooks'] ?? Number.NaN;
    const servingSeconds = round((servedAt - started) / 1000, 1);
    const boot = steps[`app servers argos-${ENV}-app`] ?? Number.NaN;
    const databaseStepSeconds = steps[`database argos-${ENV}-database`] ?? Number.NaN;
    const boundSeconds = round(Math.max(databaseStepSeconds, boot + firstDeploySeconds + CHECKS_SECONDS), 1);
    log(`cloud deploys: ${ENV} served after ${servingSeconds} s (bound ${boundSeconds} s)`);
    return {
      databaseSeconds: SECOND_ENV_DATABASE_SECONDS,
      databaseStepSeconds,
      servingSeconds,
      commandSeconds,
      steps,
      prepareSeconds: steps['configure the app servers while the database is created'],
      restSeconds: steps['run the playbooks'] ?? Number.NaN,
      firstDeploySeconds,
      boundSeconds,
      ratio: round(servingSeconds / boundSeconds, 3),
    };
  } finally {
    project.harness.databases.setCreateMs(0);
    const removed = await runCli([ENV, 'decommission', '--yes', '--skip-final-snapshot'], { cwd: project.root, env: project.env, timeout: 600_000 });
    if (removed.exitCode !== 0) log(`cloud deploys: ${ENV} decommission failed (exit ${removed.exitCode}): ${removed.stderr.trim().split('\n').slice(-3).join(' ')}`);
  }
}
