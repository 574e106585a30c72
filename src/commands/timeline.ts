/**
 * Records each step of a command (title, outcome, duration) so the command can
 * end with a summary of the time each step took and, after a failure, say
 * what exists now.
 */
import type { Reporter, StepHandle } from '../reporter.js';

/** One finished step. */
export interface StepRecord {
  title: string;
  /** `skipped`: nothing to do (it existed, or was already gone). */
  outcome: 'done' | 'skipped' | 'failed';
  ms: number;
  /** Why there was nothing to do ("exists", "already gone"), when skipped. */
  reason?: string | undefined;
  /** What the step made or found, for "what exists now" (e.g. "database argos-staging-database"). */
  resource?: string | undefined;
}

/** A reporter's steps, timed and remembered. */
export class Timeline {
  readonly records: StepRecord[] = [];
  readonly #reporter: Reporter;
  readonly #now: () => number;

  constructor(reporter: Reporter, now: () => number = Date.now) {
    this.#reporter = reporter;
    this.#now = now;
  }

  /**
   * Runs a step. `run` returns its value and, optionally, why there was nothing
   * to do (`skip`: "exists", "already gone"), what changed, and what to call
   * the resource in the summary.
   */
  async step<T>(
    title: string,
    run: (step: StepHandle) => Promise<{ value: T; skip?: string | undefined; resource?: string; changes?: string[] }>,
  ): Promise<T> {
    const started = this.#now();
    try {
      const result = await this.#reporter.step(title, async (step) => {
        const outcome = await run(step);
        if (outcome.changes && outcome.changes.length > 0) step.note(`changed: ${outcome.changes.join('; ')}`);
        else if (outcome.skip) step.skip(outcome.skip);
        return outcome;
      });
      const skipped = result.skip !== undefined && !result.changes?.length;
      this.records.push({ title, outcome: skipped ? 'skipped' : 'done', ms: this.#now() - started, reason: skipped ? result.skip : undefined, resource: result.resource });
      return result.value;
    } catch (error) {
      this.records.push({ title, outcome: 'failed', ms: this.#now() - started });
      throw error;
    }
  }

  /** The resources made or found so far. */
  resources(): string[] {
    return this.records.flatMap((record) => (record.resource && record.outcome !== 'failed' ? [record.resource] : []));
  }
}
