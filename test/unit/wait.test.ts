import { describe, expect, it } from 'vitest';
import { ArgosError } from '../../src/errors.js';
import { catchCodes, errorCode, retryOnCodes, waitFor, type Poll } from '../../src/wait.js';
import { VirtualClock } from '../support/virtual-clock.js';

const MINUTE = 60_000;

describe('waitFor', () => {
  it('returns the value once the condition holds, backing off between polls', async () => {
    const clock = new VirtualClock();
    const states = ['creating', 'creating', 'backing-up'];
    const seen: string[] = [];
    const value = await waitFor<string>(
      async (): Promise<Poll<string>> => {
        const state = states.shift();
        return state ? { done: false, state } : { done: true, value: 'available' };
      },
      { what: 'the database', timeoutMs: 40 * MINUTE, intervalMs: 5_000, signal: new AbortController().signal, clock, onPoll: (s) => seen.push(s) },
    );
    expect(value).toBe('available');
    expect(seen).toEqual(['creating', 'creating', 'backing-up']);
    expect(clock.sleeps).toEqual([5_000, 10_000, 20_000]);
  });

  it('fails with TIMEOUT naming what, the bound and the last state once the bound passes', async () => {
    const clock = new VirtualClock();
    const wait = waitFor(async () => ({ done: false, state: 'creating' }), {
      what: 'the database argos-staging-database to be available',
      timeoutMs: 40 * MINUTE,
      signal: new AbortController().signal,
      clock,
    });
    await expect(wait).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringMatching(/^timed out after 40m00s waiting for the database argos-staging-database to be available \(last state: creating\)/),
    });
    expect(clock.now() - Date.parse('2026-11-25T10:00:00Z')).toBe(40 * MINUTE);
  });

  it('stops at once when the run is interrupted', async () => {
    const controller = new AbortController();
    let polls = 0;
    const wait = waitFor(
      async () => {
        polls += 1;
        if (polls === 2) controller.abort(new ArgosError('INTERRUPTED', 'interrupted'));
        return { done: false, state: 'pending' };
      },
      { what: 'x', timeoutMs: MINUTE, intervalMs: 1, signal: controller.signal },
    );
    await expect(wait).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(polls).toBe(2);
  });
});

describe('retryOnCodes', () => {
  it('retries the listed codes and returns the eventual result', async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const result = await retryOnCodes(
      async () => {
        calls += 1;
        if (calls < 3) throw Object.assign(new Error('not yet'), { name: 'InvalidInstanceID.NotFound' });
        return 'found';
      },
      ['InvalidInstanceID.NotFound'],
      { what: 'the instance', timeoutMs: MINUTE, signal: new AbortController().signal, clock },
    );
    expect(result).toBe('found');
    expect(calls).toBe(3);
  });

  it('rethrows any other error at once', async () => {
    let calls = 0;
    const call = retryOnCodes(
      async () => {
        calls += 1;
        throw Object.assign(new Error('denied'), { name: 'UnauthorizedOperation' });
      },
      ['InvalidInstanceID.NotFound'],
      { what: 'x', timeoutMs: MINUTE, signal: new AbortController().signal, clock: new VirtualClock() },
    );
    await expect(call).rejects.toThrow('denied');
    expect(calls).toBe(1);
  });

  it('reads codes from SDK errors', () => {
    expect(errorCode(Object.assign(new Error('x'), { name: 'DependencyViolation' }))).toBe('DependencyViolation');
    expect(errorCode('text')).toBeUndefined();
  });
});

describe('catchCodes', () => {
  const failing = (name: string) => async () => {
    throw Object.assign(new Error(name), { name });
  };

  it('returns the fallback for a listed code, and the value otherwise', async () => {
    expect(await catchCodes(failing('DBInstanceNotFoundFault'), ['DBInstanceNotFoundFault'], 'missing')).toBe('missing');
    expect(await catchCodes(async () => 'found', ['DBInstanceNotFoundFault'], 'missing')).toBe('found');
  });

  it('rethrows any other error', async () => {
    await expect(catchCodes(failing('AccessDenied'), ['DBInstanceNotFoundFault'], 'missing')).rejects.toThrow('AccessDenied');
  });
});
