/**
 * The database play (migrations) runs on exactly one app server: the first of
 * those the run reaches. A rolling deploy limits each ansible-playbook to its
 * batch, and its first batch may be another server than the inventory's first
 * (one out of service goes first): with `hosts: appservers[0]` the play then
 * matched no host and the migrations silently did not run.
 *
 * Runs the real ansible-playbook on playbooks/database.yml's own play (its hosts
 * and pre_tasks as committed), with the database role replaced by a marker task
 * and three local-connection hosts: nothing touches a machine.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../support/cli.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argos-dbplay-'));
  const plays = parse(await readFile(join(REPO_ROOT, 'playbooks', 'database.yml'), 'utf8')) as Record<string, unknown>[];
  const play = plays[0];
  if (!play) throw new Error('playbooks/database.yml has no play');
  expect(play['roles']).toEqual([{ role: 'database' }]);
  const marked = { ...play, become: false, roles: [], tasks: [{ name: 'Mark', 'ansible.builtin.debug': { msg: 'database play on {{ inventory_hostname }}' } }] };
  await writeFile(join(dir, 'database.yml'), stringify([marked]));
  // Brokers and workers are in the limit of a rolling deploy's first batch too.
  await writeFile(join(dir, 'hosts'), '[brokers]\nbroker ansible_connection=local\n[appservers]\napp-1 ansible_connection=local\napp-2 ansible_connection=local\napp-3 ansible_connection=local\n');
});

/** The hosts the play ran its (marker) task on, with `--limit`. */
async function hostsRunOn(limit: string | undefined): Promise<string[]> {
  const result = await execa('ansible-playbook', ['-i', join(dir, 'hosts'), ...(limit ? ['--limit', limit] : []), join(dir, 'database.yml')], {
    env: { ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: 'false', ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3' },
  });
  return [...result.stdout.matchAll(/"msg": "database play on (\S+)"/g)].map((match) => match[1] ?? '');
}

describe('the database play', () => {
  it('runs on the first app server when nothing is limited', async () => {
    expect(await hostsRunOn(undefined)).toEqual(['app-1']);
  });

  it("runs on the first app server of a rolling deploy's first batch, whichever it is", async () => {
    expect(await hostsRunOn('broker,app-3')).toEqual(['app-3']);
    expect(await hostsRunOn('broker,app-2,app-3')).toEqual(['app-2']);
  });
}, 120_000);
