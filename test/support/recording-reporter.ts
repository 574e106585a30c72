/**
 * A Reporter for tests: records every step, line and result with the time it
 * happened (on whatever clock the test runs), and answers prompts from a script.
 */
import { ArgosError } from '../../src/errors.js';
import type { Reporter, StepHandle } from '../../src/reporter.js';

/** One step as the reporter saw it, in ms of the test's clock. */
export interface RecordedStep {
  title: string;
  start: number;
  end: number | undefined;
  outcome: 'running' | 'done' | 'skipped' | 'failed';
  notes: string[];
  /** Why it was skipped ("exists"), when it was. */
  reason?: string | undefined;
}

/** What {@link RecordingReporter} takes. */
export interface RecordingReporterOptions {
  /** The test's clock (virtual or real), in ms. */
  now?: () => number;
  /** Answers to give, in order, to the questions asked; none left: no one can be asked (no terminal). */
  answers?: string[];
}

/** A Reporter that records steps, lines, results and questions. */
export class RecordingReporter implements Reporter {
  readonly steps: RecordedStep[] = [];
  readonly lines: { level: 'info' | 'warn' | 'detail'; message: string; at: number }[] = [];
  /** What the command printed as its result (the status table, JSON). */
  readonly results: string[] = [];
  /** The questions asked, in order. */
  readonly questions: string[] = [];
  /** The step titles announced with plan(), in order. */
  planned: string[] = [];
  readonly #now: () => number;
  readonly #answers: string[];

  constructor(options: RecordingReporterOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#answers = [...(options.answers ?? [])];
  }

  plan(titles: readonly string[]): void {
    this.planned = [...titles];
  }

  async step<T>(title: string, run: (step: StepHandle) => Promise<T>): Promise<T> {
    const record: RecordedStep = { title, start: this.#now(), end: undefined, outcome: 'running', notes: [] };
    this.steps.push(record);
    try {
      const value = await run({ note: (detail) => record.notes.push(detail), skip: (reason) => (record.reason = reason) });
      record.outcome = record.reason === undefined ? 'done' : 'skipped';
      return value;
    } catch (error) {
      record.outcome = 'failed';
      throw error;
    } finally {
      record.end = this.#now();
    }
  }

  info(message: string): void {
    this.lines.push({ level: 'info', message, at: this.#now() });
  }

  warn(message: string): void {
    this.lines.push({ level: 'warn', message, at: this.#now() });
  }

  detail(message: string): void {
    this.lines.push({ level: 'detail', message, at: this.#now() });
  }

  result(text: string): void {
    this.results.push(text);
  }

  async ask(question: string, signal: AbortSignal): Promise<string | undefined> {
    if (signal.aborted) throw new ArgosError('INTERRUPTED', 'Interrupted: nothing was done.');
    this.questions.push(question);
    return this.#answers.shift();
  }

  close(): void {}

  /** The step whose title starts with `prefix`. */
  find(prefix: string): RecordedStep | undefined {
    return this.steps.find((step) => step.title.startsWith(prefix));
  }

  /** Every info and warn line, joined: what a person would have read. */
  text(): string {
    return this.lines.filter((line) => line.level !== 'detail').map((line) => line.message).join('\n');
  }
}
