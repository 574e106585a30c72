/**
 * The one waiting mechanism: poll a condition with backoff until it holds, a
 * bound passes, or the run is interrupted. Every wait in argos goes through
 * here, so each has an explicit bound, honours Ctrl-C and reports progress.
 */
import { ArgosError } from './errors.js';
import { formatDuration } from './reporter.js';

/** What one poll found. */
export type Poll<T> = { done: true; value: T } | { done: false; state: string };

/** How long and how often to wait. */
export interface WaitOptions {
  /** Names what is awaited, in messages: "the database argos-staging-database to be available". */
  what: string;
  /** The bound: after this the wait fails with a TIMEOUT error. */
  timeoutMs: number;
  /** First pause between polls; doubles up to `maxIntervalMs`. */
  intervalMs?: number;
  maxIntervalMs?: number;
  signal: AbortSignal;
  /** Called with each poll's state (for a step note). */
  onPoll?: (state: string) => void;
  /** Clock and sleep, replaced by a virtual clock in tests. */
  clock?: Clock;
}

/**
 * How a call that may wait runs: the one shape every module's waits take, and
 * what a command passes down (`{ signal: ctx.signal, onProgress: note, clock: ctx.runtime.clock }`).
 */
export interface Progress {
  /** Aborted by Ctrl-C: every wait stops at once. */
  signal: AbortSignal;
  /** Says what is happening now (a command wires it to its step's note). */
  onProgress?: ((note: string) => void) | undefined;
  /** Virtual time in tests; real time when left out. */
  clock?: Clock | undefined;
}

/** {@link Progress} for a call whose wait may be bounded differently than its default. */
export interface BoundedProgress extends Progress {
  /** Overrides the call's own bound, in milliseconds. */
  timeoutMs?: number | undefined;
}

/** Time as the waits see it. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** Real time. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(interruptedError(signal));
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(interruptedError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }),
};

function interruptedError(signal: AbortSignal): ArgosError {
  return signal.reason instanceof ArgosError ? signal.reason : new ArgosError('INTERRUPTED', 'interrupted');
}

/** Throws the interruption if the run was interrupted: call between steps. */
export function throwIfInterrupted(signal: AbortSignal): void {
  if (signal.aborted) throw interruptedError(signal);
}

/**
 * Polls `check` until it reports done, then returns its value. Fails with a
 * TIMEOUT error naming `what`, the bound and the last state seen.
 */
export async function waitFor<T>(check: () => Promise<Poll<T>>, options: WaitOptions): Promise<T> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  let interval = options.intervalMs ?? 5_000;
  const maxInterval = options.maxIntervalMs ?? 30_000;
  let lastState = 'not checked yet';
  for (;;) {
    throwIfInterrupted(options.signal);
    const poll = await check();
    if (poll.done) return poll.value;
    lastState = poll.state;
    options.onPoll?.(poll.state);
    const elapsed = clock.now() - started;
    if (elapsed >= options.timeoutMs) {
      throw new ArgosError(
        'TIMEOUT',
        `timed out after ${formatDuration(elapsed)} waiting for ${options.what} (last state: ${lastState}); ` +
          'it may still finish: run the command again to pick up where it stopped',
      );
    }
    await clock.sleep(Math.min(interval, options.timeoutMs - elapsed), options.signal);
    interval = Math.min(interval * 2, maxInterval);
  }
}

/** The AWS error code of an SDK error (`InvalidInstanceID.NotFound`, `DependencyViolation`, …). */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, Code } = error as { name?: unknown; Code?: unknown };
  if (typeof Code === 'string') return Code;
  return typeof name === 'string' ? name : undefined;
}

/** Whether `error` is an AWS error with one of `codes` (the lists of `aws/error-codes.ts`). */
export function hasErrorCode(error: unknown, codes: readonly string[]): boolean {
  const code = errorCode(error);
  return code !== undefined && codes.includes(code);
}

/**
 * Runs `call` and returns `fallback` when it fails with one of `codes` (a
 * lookup of something missing, a delete of something already gone); any other
 * error is rethrown. This is what makes lookups and deletes safe to repeat.
 */
export async function catchCodes<T, F>(call: () => Promise<T>, codes: readonly string[], fallback: F): Promise<T | F> {
  try {
    return await call();
  } catch (error) {
    if (hasErrorCode(error, codes)) return fallback;
    throw error;
  }
}

/**
 * Runs `call`, retrying while it fails with one of `codes`: for AWS's eventual
 * consistency (an id not yet visible right after its create) and for
 * `DependencyViolation` while something still holds a resource.
 */
export async function retryOnCodes<T>(
  call: () => Promise<T>,
  codes: readonly string[],
  options: WaitOptions,
): Promise<T> {
  return waitFor<T>(async () => {
    try {
      return { done: true, value: await call() };
    } catch (error) {
      if (hasErrorCode(error, codes)) return { done: false, state: `${errorCode(error)}: ${(error as Error).message}` };
      throw error;
    }
  }, options);
}
