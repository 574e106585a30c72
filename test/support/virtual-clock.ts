/**
 * A virtual clock for waits: sleeping advances time instantly, so a test can
 * drive a 40-minute wait in milliseconds and read how long it "took".
 */
import type { Clock } from '../../src/wait.js';

export class VirtualClock implements Clock {
  #now: number;
  readonly sleeps: number[] = [];

  constructor(start = Date.parse('2026-11-25T10:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.#now += ms;
    await Promise.resolve();
  }

  /** Moves time forward without a sleep (e.g. the time a call takes). */
  advance(ms: number): void {
    this.#now += ms;
  }
}
