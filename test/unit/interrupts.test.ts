import { describe, expect, it } from 'vitest';
import { createInterruptHandler } from '../../src/interrupts.js';

describe('Ctrl-C', () => {
  it('aborts the run on the first press and exits 130 at once on the second', () => {
    const controller = new AbortController();
    const written: string[] = [];
    const exits: number[] = [];
    const onSigint = createInterruptHandler(controller, (text) => written.push(text), (code) => exits.push(code));
    // First press: the run's signal aborts with an INTERRUPTED error; nothing exits yet.
    onSigint();
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toMatchObject({ code: 'INTERRUPTED', exitCode: 130 });
    expect(exits).toEqual([]);
    expect(written.join('')).toContain('finishing cleanup (Ctrl-C again to exit at once)');
    // Second press: exit 130 without waiting for cleanup.
    onSigint();
    expect(exits).toEqual([130]);
    expect(written.at(-1)).toBe('argos: interrupted twice; exiting without finishing cleanup\n');
  });
});
