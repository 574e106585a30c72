/**
 * The listening side of the gate a deploy's ansible-playbook waits at while
 * argos logs in to the hosts (src/playbook-gate.ts): what a request on
 * 127.0.0.1 gets before, after and instead of the `go`.
 */
import { describe, expect, it } from 'vitest';
import { listenForGate } from '../../src/playbook-gate.js';

/** A gate's promise and its settling functions. */
function pending(): { opened: Promise<void>; open: () => void; fail: (reason: unknown) => void } {
  let open: () => void = () => undefined;
  let fail: (reason: unknown) => void = () => undefined;
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  opened.catch(() => undefined);
  return { opened, open, fail };
}

/** The gate's answer: its text, or `dropped` when the connection ends without one; `answered` says whether it came yet. */
function ask(port: number): { answered: () => boolean; result: Promise<string> } {
  let answered = false;
  const result = fetch(`http://127.0.0.1:${port}/`).then(
    async (response) => {
      answered = true;
      return `${response.status} ${await response.text()}`;
    },
    () => 'dropped',
  );
  return { answered: () => answered, result };
}

describe('listenForGate', () => {
  it('answers go to a waiting request only once the gate opens, and at once to a later one', async () => {
    const gate = pending();
    const listener = await listenForGate(gate.opened);
    try {
      const early = ask(listener.port);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(early.answered()).toBe(false);
      gate.open();
      expect(await early.result).toBe('200 go');
      expect(await ask(listener.port).result).toBe('200 go');
      expect(listener.stopped.aborted).toBe(false);
    } finally {
      await listener.close();
    }
  });

  it('drops the waiting request without a go and aborts `stopped` when the gate fails', async () => {
    const gate = pending();
    const listener = await listenForGate(gate.opened);
    try {
      const waiting = ask(listener.port);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const reason = new Error('SSH never answered');
      gate.fail(reason);
      expect(await waiting.result).toBe('dropped');
      expect(listener.stopped.aborted).toBe(true);
      expect(listener.stopped.reason).toBe(reason);
    } finally {
      await listener.close();
    }
  });
});
