/**
 * One declared step list per command drives everything a person sees of it:
 * the plan (pending steps on a terminal), the run (live step lines, CI lines),
 * the closing summary with step times, "what exists now" after a failure, and
 * `--dry-run`. Each step says once what it is called, whether it applies, how
 * to preview it from Describe calls, and how to make it so (like np's task
 * list: `{title, enabled, skip, task}`, with the dry run as a preview).
 *
 * Steps run in list order; a step waits for the steps it `needs` (by default
 * the step before it), so independent steps run at the same time when they
 * name an earlier common step. After the first failure or Ctrl-C no new step
 * starts, but the running ones finish (a bake must clean up after itself), and
 * `always` steps still run (closing temporary SSH).
 */
import type { Context } from '../context.js';
import { ArgosError } from '../errors.js';
import type { Reporter, StepHandle } from '../reporter.js';

/** How a step ended. */
export interface StepOutcome {
  /** Nothing to do, and why ("exists", "nothing to delete"). */
  skip?: string | undefined;
  /** What changed on something that existed (`max size 4 → 6`): the step counts as done. */
  changes?: readonly string[] | undefined;
  /** What the step made or found, for "exists now" after a failure (e.g. "database argos-staging-database"). */
  resource?: string | undefined;
}

/** What a step would do, found with Describe calls only. */
export interface StepPreview {
  /** `create …`, `delete …`, or a change such as `max size 4 → 6`; empty when there is nothing to do. */
  actions: readonly string[];
  /** Said when there is nothing to do ("exists, unchanged", "nothing to delete"). */
  none?: string | undefined;
  /** What stays (decommission: the image, the final snapshot). */
  keeps?: readonly string[] | undefined;
}

/** One step of a command, over the command's mutable run state `S`. */
export interface Step<S> {
  /** What other steps name in `needs`. */
  readonly id: string;
  /** Shown in the plan, the live list, the log and the summary. */
  readonly title: string;
  /** The steps this one waits for; default: the enabled step before it. `[]`: none. */
  readonly needs?: readonly string[];
  /** Whether the step applies to this run (e.g. the broker only when wanted); default yes. */
  readonly enabled?: (state: S) => boolean;
  /** What the step would do, from Describe calls only; default: "would run". */
  readonly preview?: (state: S) => Promise<StepPreview>;
  /** Makes it so. */
  readonly run: (state: S, step: StepHandle) => Promise<StepOutcome | undefined>;
  /**
   * Runs even after another step failed or the run was interrupted, once the
   * steps it needs have ended, if any of them ran (successfully or not):
   * cleanup such as closing SSH.
   */
  readonly always?: boolean;
}

/** One step as it ran. */
export interface StepRecord {
  title: string;
  outcome: 'done' | 'skipped' | 'failed';
  ms: number;
  /** Why there was nothing to do, when skipped. */
  reason?: string | undefined;
  resource?: string | undefined;
}

/** Where the steps report and what time it is. */
export interface StepHost {
  reporter: Reporter;
  now: () => number;
  signal: AbortSignal;
}

/** A run's reporter, clock and Ctrl-C signal, as the step runner needs them. */
export function stepHostOf(ctx: Pick<Context, 'reporter' | 'runtime' | 'signal'>): StepHost {
  return { reporter: ctx.reporter, now: () => ctx.runtime.clock.now(), signal: ctx.signal };
}

/** The result of {@link runSteps}: every step that ran, in the order they ended. */
export class StepRun {
  readonly records: StepRecord[] = [];

  /** The resources made or found so far (for "exists now"). */
  resources(): string[] {
    return this.records.flatMap((record) => (record.resource && record.outcome !== 'failed' ? [record.resource] : []));
  }

  /** "security groups 0.1s, database 10m02s (exists), …" for the closing summary. */
  summary(formatDuration: (ms: number) => string): string {
    return this.records.map((record) => `${record.title} ${formatDuration(record.ms)}${record.reason ? ` (${record.reason})` : ''}`).join(', ');
  }
}

/** The steps that apply to this run, with every `needs` resolved to enabled steps that come earlier. */
export function selectSteps<S>(steps: readonly Step<S>[], state: S): { step: Step<S>; needs: string[] }[] {
  const enabled = steps.filter((step) => step.enabled?.(state) ?? true);
  const known = new Set<string>();
  return enabled.map((step, index) => {
    for (const id of step.needs ?? []) {
      // A step list is code: a need that is not an earlier step is a bug, not a user error.
      if (!steps.some((other) => other.id === id)) throw new Error(`step ${step.id} needs unknown step ${id}`);
      if (!known.has(id) && enabled.some((other) => other.id === id)) throw new Error(`step ${step.id} needs ${id}, which comes after it`);
    }
    known.add(step.id);
    const previous = enabled[index - 1];
    const needs = step.needs ? step.needs.filter((id) => known.has(id)) : previous ? [previous.id] : [];
    return { step, needs };
  });
}

/** The titles of the steps that apply, in order: what {@link runSteps} announces. */
export function planTitles<S>(steps: readonly Step<S>[], state: S): string[] {
  return selectSteps(steps, state).map(({ step }) => step.title);
}

/**
 * Runs the steps that apply, each as a reporter step, concurrently where their
 * `needs` allow. Throws once every running step has ended: the failure, or,
 * when steps running at the same time both failed, every failure in one error
 * (see {@link combineFailures}).
 */
export async function runSteps<S>(steps: readonly Step<S>[], state: S, host: StepHost, run = new StepRun()): Promise<StepRun> {
  const selected = selectSteps(steps, state);
  host.reporter.plan(selected.map(({ step }) => step.title));
  type Ended = 'done' | 'failed' | 'not run';
  const ended = new Map<string, Promise<Ended>>();
  const running = new Set<string>();
  let failure: { error: unknown } | undefined;
  const failures: Failure[] = [];

  const start = async (step: Step<S>, needs: string[]): Promise<Ended> => {
    const before = await Promise.all(needs.map((id) => ended.get(id) ?? Promise.resolve<Ended>('not run')));
    if (step.always ? before.every((outcome) => outcome === 'not run') : failure || host.signal.aborted || before.some((outcome) => outcome !== 'done')) return 'not run';
    const started = host.now();
    running.add(step.title);
    try {
      const outcome = await host.reporter.step(step.title, async (handle) => {
        const result = (await step.run(state, handle)) ?? {};
        if (result.changes && result.changes.length > 0) handle.note(`changed: ${result.changes.join('; ')}`);
        else if (result.skip) handle.skip(result.skip);
        return result;
      });
      const skipped = outcome.skip !== undefined && !outcome.changes?.length;
      run.records.push({
        title: step.title,
        outcome: skipped ? 'skipped' : 'done',
        ms: host.now() - started,
        reason: skipped ? outcome.skip : undefined,
        resource: outcome.resource,
      });
      return 'done';
    } catch (error) {
      run.records.push({ title: step.title, outcome: 'failed', ms: host.now() - started });
      failure ??= { error };
      failures.push({ index: selected.findIndex((entry) => entry.step === step), title: step.title, error });
      running.delete(step.title);
      // The run ends only once the running steps have (a bake cleans up): say what failed now, not then.
      if (running.size > 0 && !host.signal.aborted) {
        host.reporter.warn(`${step.title} failed: ${errorText(error)}. Stopping once ${[...running].join(', ')} ${running.size === 1 ? 'has' : 'have'} finished or cleaned up`);
      }
      return 'failed';
    } finally {
      running.delete(step.title);
    }
  };
  for (const { step, needs } of selected) ended.set(step.id, start(step, needs));
  await Promise.all(ended.values());
  if (failure) throw combineFailures(failures, host.signal.aborted);
  // Interrupted between steps: nothing failed, but not everything ran.
  if (host.signal.aborted) throw host.signal.reason instanceof ArgosError ? host.signal.reason : new ArgosError('INTERRUPTED', 'interrupted');
  return run;
}

/** A step's failure, with the step's place in the list. */
interface Failure {
  index: number;
  title: string;
  error: unknown;
}

/**
 * The error a run with failures throws. One failure is thrown as it is. Two
 * steps running side by side can both fail (a deploy's playbooks and its
 * release build, given the same broken release): none may be lost, so they
 * are joined in one error led by the earlier step of the list, whatever
 * finished first (the order a person reads the plan in). A step that was only
 * stopped (code INTERRUPTED) because another failed is named as stopped,
 * after the failures (a release build stopped by the deploy's failure is not the cause). The
 * run exits 130 only if the user interrupted it (`interrupted`), else as the
 * leading failure.
 */
export function combineFailures(failures: readonly Failure[], interrupted: boolean): unknown {
  const codeOf = (error: unknown) => (error instanceof ArgosError ? error.code : 'FAILED');
  const stopped = (failure: Failure) => codeOf(failure.error) === 'INTERRUPTED';
  // Not interrupted by the user: a step stopped because another failed never leads (the cause does).
  const rank = (failure: Failure) => (!interrupted && stopped(failure) ? 1 : 0);
  const [lead, ...others] = [...failures].sort((a, b) => rank(a) - rank(b) || a.index - b.index);
  if (!lead) throw new Error('combineFailures needs a failure');
  if (others.length === 0) return lead.error;
  const code = interrupted && failures.some(stopped) ? 'INTERRUPTED' : codeOf(lead.error);
  const also = others
    .map((f) => (!interrupted && stopped(f) ? `\n(also: ${f.title} was stopped)` : `\n(also: ${f.title} failed: ${errorText(f.error)})`))
    .join('');
  return new ArgosError(code, `${errorText(lead.error)}${also}`, { cause: lead.error });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One step's preview, with its title. */
export interface PreviewedStep {
  title: string;
  preview: StepPreview;
}

/** Previews the steps that apply, in order (Describe calls only): the dry run and the teardown plan. */
export async function previewSteps<S>(steps: readonly Step<S>[], state: S): Promise<PreviewedStep[]> {
  const previews: PreviewedStep[] = [];
  for (const { step } of selectSteps(steps, state)) {
    previews.push({ title: step.title, preview: step.preview ? await step.preview(state) : { actions: ['run'] } });
  }
  return previews;
}

/** The dry run as a person reads it: one line per step, its actions indented under it. */
export function renderPreview(previews: readonly PreviewedStep[]): string {
  return previews
    .map(({ title, preview }) => {
      if (preview.actions.length === 0) return `  ${title}: ${preview.none ?? 'nothing to do'}`;
      if (preview.actions.length === 1) return `  ${title}: ${preview.actions[0]}`;
      return [`  ${title}:`, ...preview.actions.map((action) => `    - ${action}`)].join('\n');
    })
    .join('\n');
}
