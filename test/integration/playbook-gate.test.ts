/**
 * The gate of src/playbook-gate.ts with the real ansible-playbook and the real
 * playbooks/gate.yml: a run started before the SSH wait has ended runs no
 * task until the gate opens, and stops without running one when it fails.
 * The playbook after the gate writes a file on the controller (a host with
 * connection local): nothing leaves this machine.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPlaybook, type PlaybookRun } from '../../src/ansible.js';
import { ArgosError } from '../../src/errors.js';

const GATE = resolve('playbooks/gate.yml');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argos-gate-'));
  // A host of its own, not localhost: the runs are limited to it, as a rolling deploy's are to a batch.
  await writeFile(join(dir, 'hosts'), 'marker ansible_connection=local\n');
  await writeFile(
    join(dir, 'mark.yml'),
    ['- hosts: marker', '  gather_facts: false', '  tasks:', '    - ansible.builtin.copy:', `        dest: ${join(dir, 'ran')}`, '        content: ran', '        mode: "0600"', ''].join('\n'),
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A run of mark.yml behind the gate `opened`, its lines collected. */
function gatedRun(opened: Promise<void>, lines: string[]): PlaybookRun {
  return {
    playbooks: [join(dir, 'mark.yml')],
    inventory: join(dir, 'hosts'),
    // The gate play's localhost is not in it: the gate must hold all the same.
    limit: 'marker',
    ssh: { keyFile: join(dir, 'key'), user: 'nobody', knownHostsFile: join(dir, 'known_hosts'), controlDir: undefined },
    signal: new AbortController().signal,
    onLine: (line) => lines.push(line),
    gate: { playbook: GATE, opened },
  };
}

const ran = () => readFile(join(dir, 'ran'), 'utf8').catch(() => undefined);

describe('runPlaybook behind the gate (real ansible-playbook)', () => {
  it('runs no task before the gate opens, then runs the playbook', async () => {
    let open: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const lines: string[] = [];
    const running = runPlaybook(gatedRun(opened, lines));
    // Long enough for ansible-playbook to start and reach the gate (about a second here)
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(lines.some((line) => line.startsWith('TASK [Wait for argos'))).toBe(true);
    expect(await ran()).toBeUndefined();
    const openedAt = performance.now();
    open();
    await running;
    expect(await ran()).toBe('ran');
    // The gate's reply ends its wait at once (the wait_for module polls only while it cannot connect).
    expect(performance.now() - openedAt).toBeLessThan(3_000);
  }, 30_000);

  it('stops the run without a task when the gate fails', async () => {
    let fail: (reason: unknown) => void = () => undefined;
    const opened = new Promise<void>((_resolve, reject) => (fail = reject));
    const running = runPlaybook(gatedRun(opened, []));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    fail(new Error('SSH never answered'));
    const error = await running.then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(ArgosError);
    expect((error as ArgosError).code).toBe('INTERRUPTED');
    expect((error as Error).message).toBe(`stopped before ${dir.split('/').at(-1)}/mark.yml reached a host: the SSH wait did not succeed`);
    expect(await ran()).toBeUndefined();
  }, 30_000);
});
