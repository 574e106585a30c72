/**
 * A playbook run on a temporary instance (a bake's, a release build's) leaves
 * nothing of its SSH behind, whether the run succeeds or fails: the kept master
 * connection to the instance is closed (the instance is about to be imaged and
 * terminated) and its known_hosts file and inventory are removed.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PlaybookRun } from '../../src/ansible.js';
import { runOnTemporaryHost } from '../../src/commands/prepare-bake.js';
import type { Context } from '../../src/context.js';
import type { SshSettings } from '../../src/ssh.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argos-temporary-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Only what runOnTemporaryHost reads, with a runtime that records; `fail` makes the playbook fail. */
function contextRecording(events: string[], fail: boolean): Context {
  return {
    paths: { playbooks: '/project/playbooks' },
    options: { verbose: false },
    signal: new AbortController().signal,
    reporter: { detail: () => undefined },
    runtime: {
      runPlaybook: async (run: PlaybookRun) => {
        events.push(`playbook ${run.playbooks.join(' ')} on ${await readFile(run.inventory, 'utf8')}`);
        if (fail) throw new Error('ansible-playbook failed');
      },
      closeSshMasters: async (hosts: readonly string[], ssh: SshSettings) => {
        events.push(`close ${hosts.join(',')} via ${ssh.controlDir ?? 'none'}`);
      },
    },
  } as unknown as Context;
}

describe('runOnTemporaryHost', () => {
  for (const fail of [false, true]) {
    it(`closes the SSH master to the instance and removes its host key ${fail ? 'when the playbook fails' : 'after the playbook'}`, async () => {
      const knownHostsFile = join(dir, 'known_hosts_bake');
      await writeFile(knownHostsFile, 'i-0abc ssh-ed25519 AAAA\n');
      const ssh: SshSettings = { user: 'ubuntu', keyFile: '/k.pem', knownHostsFile, controlDir: '/home/u/.ansible/cp' };
      const events: string[] = [];
      const run = runOnTemporaryHost(contextRecording(events, fail), { playbook: 'image.yml', inventory: '[image]\n203.0.113.5\n', ssh, varsFiles: [], host: '203.0.113.5' });
      if (fail) await expect(run).rejects.toThrow('ansible-playbook failed');
      else await run;
      expect(events).toEqual([
        'playbook /project/playbooks/image.yml on [image]\n203.0.113.5\n',
        'close 203.0.113.5 via /home/u/.ansible/cp',
      ]);
      expect(existsSync(knownHostsFile)).toBe(false);
    });
  }
});
