import { describe, expect, it } from 'vitest';
import { createInterruptHandler } from '../../src/interrupts.js';

function handler() {
  const controller = new AbortController();
  const written: string[] = [];
  const exits: number[] = [];
  const onSignal = createInterruptHandler(controller, (text) => written.push(text), (code) => exits.push(code));
  return { controller, written, exits, onSignal };
}

describe('Ctrl-C', () => {
  it('aborts the run on the first press and exits 130 at once on the second', () => {
    const { controller, written, exits, onSignal: onSigint } = handler();
    // First press: the run's signal aborts with an INTERRUPTED error; nothing exits yet.
    onSigint('SIGINT');
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toMatchObject({ code: 'INTERRUPTED', exitCode: 130 });
    expect(exits).toEqual([]);
    expect(written.join('')).toContain('finishing cleanup (Ctrl-C again to exit at once)');
    // Second press: exit 130 without waiting for cleanup.
    onSigint('SIGINT');
    expect(exits).toEqual([130]);
    expect(written.at(-1)).toBe('argos: interrupted twice; exiting without finishing cleanup. Its lock stays behind: the next run says whose it is and how to break it (--force-unlock)\n');
  });
});

describe('SIGTERM and SIGHUP', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s aborts the run like Ctrl-C (cleanup runs, exit %i); a second one exits at once', (signal, code) => {
    const { controller, written, exits, onSignal } = handler();
    onSignal(signal);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toMatchObject({ code: 'INTERRUPTED', exitCode: code, message: 'interrupted' });
    expect(exits).toEqual([]);
    expect(written.join('')).toContain(`${signal} received: finishing cleanup (send ${signal} again to exit at once)`);
    onSignal(signal);
    expect(exits).toEqual([code]);
  });
});
