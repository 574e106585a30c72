/**
 * A discrete-event virtual clock: every `sleep` (a wait's pause) and `delay`
 * (a modelled operation's latency) registers a wake time, and time jumps to
 * the earliest wake only once the program is otherwise idle. Concurrent waits
 * therefore overlap as they would in real time (the clock advances to the
 * latest of them, not their sum), and a 40-minute run takes milliseconds.
 *
 * "Idle" means: a few consecutive `setImmediate` turns in which no new wake
 * was registered and no file-system request was in flight. All AWS, SSH and
 * Ansible I/O is modelled, so the only real I/O left is the file system (key
 * checks, the hosts file, the bake's temporary inventory); waiting for it
 * keeps virtual time deterministic: real I/O takes no virtual time.
 */
import type { Clock } from '../../src/wait.js';

interface Sleeper {
  wake: number;
  seq: number;
  resolve: () => void;
  /** Detaches the abort listener. */
  release: () => void;
}

/** Options of an {@link EventClock}. */
export interface EventClockOptions {
  /** Virtual start time (ms since the epoch). */
  start?: number;
  /** Quiet `setImmediate` turns that count as idle. */
  idleTurns?: number;
}

/**
 * Whether a file-system request is in flight: Node's active-resource names
 * `FSReqPromise` / `FSReqCallback`, and `CloseReq`, which is what a
 * `FileHandle.close()` (the end of every `fs/promises` writeFile) shows as.
 * Missing the latter let time jump while a cold thread pool closed a file.
 */
function fileSystemBusy(): boolean {
  return process.getActiveResourcesInfo().some((name) => name.startsWith('FSReq') || name === 'CloseReq');
}

export class EventClock implements Clock {
  readonly start: number;
  readonly #idleTurns: number;
  #now: number;
  #seq = 0;
  /** Bumped on every registration: a turn that saw it change was not quiet. */
  #generation = 0;
  #sleepers: Sleeper[] = [];
  #ticking = false;
  /** How many times time jumped forward (for diagnostics). */
  advances = 0;

  constructor(options: EventClockOptions = {}) {
    this.start = options.start ?? Date.parse('2026-11-25T10:00:00Z');
    this.#now = this.start;
    this.#idleTurns = options.idleTurns ?? 4;
  }

  now(): number {
    return this.#now;
  }

  /** Virtual ms since the clock started. */
  elapsed(): number {
    return this.#now - this.start;
  }

  /** Resolves once virtual time reaches now + `ms`; rejects with `signal.reason` when aborted first. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#sleepers = this.#sleepers.filter((entry) => entry !== sleeper);
        reject(signal.reason);
      };
      const sleeper = this.#register(ms, resolve, () => signal.removeEventListener('abort', onAbort));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The time a modelled operation takes: resolves once virtual time reaches now + `ms`. */
  delay(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#register(ms, resolve, () => undefined);
    });
  }

  /** Wakes registered and not yet due. */
  pending(): number {
    return this.#sleepers.length;
  }

  #register(ms: number, resolve: () => void, release: () => void): Sleeper {
    const sleeper: Sleeper = { wake: this.#now + Math.max(0, ms), seq: this.#seq++, resolve, release };
    // Kept sorted by wake time, then registration order: equal wakes resolve first-come first-served.
    const index = this.#sleepers.findIndex((entry) => entry.wake > sleeper.wake);
    if (index === -1) this.#sleepers.push(sleeper);
    else this.#sleepers.splice(index, 0, sleeper);
    this.#generation += 1;
    this.#tick();
    return sleeper;
  }

  /** Runs the idle detector while anything sleeps. */
  #tick(): void {
    if (this.#ticking) return;
    this.#ticking = true;
    let quiet = 0;
    let seen = this.#generation;
    const turn = (): void => {
      if (this.#sleepers.length === 0) {
        this.#ticking = false;
        return;
      }
      if (seen !== this.#generation || fileSystemBusy()) {
        seen = this.#generation;
        quiet = 0;
      } else if (++quiet >= this.#idleTurns) {
        this.#advance();
        quiet = 0;
        seen = this.#generation;
      }
      setImmediate(turn);
    };
    setImmediate(turn);
  }

  /** Jumps to the earliest wake and resolves every sleeper due then. */
  #advance(): void {
    const first = this.#sleepers[0];
    if (!first) return;
    this.#now = Math.max(this.#now, first.wake);
    this.advances += 1;
    const due = this.#sleepers.filter((entry) => entry.wake <= this.#now);
    this.#sleepers = this.#sleepers.filter((entry) => entry.wake > this.#now);
    for (const sleeper of due) {
      sleeper.release();
      sleeper.resolve();
    }
  }
}
