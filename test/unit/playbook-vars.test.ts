/**
 * The database password reaches Ansible through a private, short-lived vars
 * file: it may come from ARGOS_DB_PASSWORD instead of group_vars/all.yml, and
 * it must never be in ansible-playbook's argv or environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findSshConfigProblem, removeStaleVarsDirs, withPlaybookVars } from '../../src/commands/connection.js';
import type { Context } from '../../src/context.js';
import { localProcesses } from '../../src/run.js';
import { Secret } from '../../src/secret.js';

function contextWith(password: string, config = '/project/playbooks/group_vars/all.yml'): Context {
  // Only what withPlaybookVars reads; this process, as run.ts gives it.
  return { config: { dbPassword: new Secret(password) }, paths: { root: '/project', config }, runtime: { processes: localProcesses } } as unknown as Context;
}

describe('withPlaybookVars', () => {
  it('hands Ansible a 0600 file holding db_pass, and removes it afterwards', async () => {
    const password = 'from-ARGOS_DB_PASSWORD-7"q\'x';
    let seen: { files: string[]; content: string; mode: number } | undefined;
    await withPlaybookVars(contextWith(password), async (files) => {
      const file = files.at(-1) ?? '';
      seen = { files, content: await readFile(file, 'utf8'), mode: (await stat(file)).mode & 0o777 };
    });
    expect(seen?.files).toHaveLength(1); // all.yml is Ansible's own group_vars: not passed again
    expect(JSON.parse(seen?.content ?? '')).toEqual({ db_pass: password });
    expect(seen?.mode).toBe(0o600);
    expect(existsSync(seen?.files[0] ?? '')).toBe(false);
  });

  it('passes a --config file first, and removes the secret file when the run fails', async () => {
    let files: string[] = [];
    await expect(
      withPlaybookVars(contextWith('a-Password-123', '/project/other.yml'), async (given) => {
        files = given;
        throw new Error('ansible-playbook failed');
      }),
    ).rejects.toThrow('ansible-playbook failed');
    expect(files[0]).toBe('/project/other.yml');
    expect(files[1]).toMatch(new RegExp(`argos-vars-${localProcesses.pid}-[^/]+${join('/', 'secrets.json')}$`));
    expect(existsSync(files[1] ?? '')).toBe(false);
  });
});

describe('removeStaleVarsDirs', () => {
  it('removes the vars directories of runs that no longer run, and keeps those of running ones and anything else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-sweep-'));
    const dead = spawnSync('true').pid; // exited: its vars directory is a leftover
    const running = spawn('sleep', ['30']);
    try {
      const names = [`argos-vars-${dead}-aB3dE5`, `argos-vars-${running.pid}-fG7hI9`, `argos-vars-${process.pid}-jK1lM2`, 'argos-vars-xyz', 'argos-test-123-abc'];
      for (const name of names) {
        await mkdir(join(dir, name));
        await writeFile(join(dir, name, 'secrets.json'), '{"db_pass": "canary"}', { mode: 0o600 });
      }
      expect(await removeStaleVarsDirs(localProcesses, dir)).toEqual([join(dir, names[0] ?? '')]);
      expect((await readdir(dir)).sort()).toEqual(names.slice(1).sort());
    } finally {
      running.kill();
    }
  });

  it("keeps another user's, even of a run that no longer runs", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-sweep-'));
    const name = `argos-vars-${spawnSync('true').pid}-rS8tU0`;
    await mkdir(join(dir, name));
    const uid = (await stat(join(dir, name))).uid;
    expect(await removeStaleVarsDirs({ ...localProcesses, uid: uid + 1 }, dir)).toEqual([]);
    expect(await readdir(dir)).toEqual([name]);
  });

  it('runs before each playbook run: a run killed before its cleanup leaves the password on disk only until the next', async () => {
    const dead = spawnSync('true').pid;
    const leftover = join(tmpdir(), `argos-vars-${dead}-nO4pQ6`);
    await mkdir(leftover);
    await writeFile(join(leftover, 'secrets.json'), '{"db_pass": "canary"}', { mode: 0o600 });
    await withPlaybookVars(contextWith('a-Password-123'), async () => {
      expect(existsSync(leftover)).toBe(false);
    });
  });
});

describe('findSshConfigProblem', () => {
  async function contextWithSshConfig(sshConfig: string | undefined, fromFlag: boolean): Promise<Context> {
    const root = await mkdtemp(join(tmpdir(), 'argos-ssh-config-'));
    return {
      sshConfig,
      options: fromFlag ? { sshConfig } : {},
      paths: { root, config: join(root, 'playbooks', 'group_vars', 'all.yml') },
    } as unknown as Context;
  }

  it('has nothing to say without an ssh_config, or with one that is a file', async () => {
    expect(await findSshConfigProblem(await contextWithSshConfig(undefined, false))).toBeUndefined();
    const file = join(await mkdtemp(join(tmpdir(), 'argos-ssh-config-')), 'ssh_config');
    await writeFile(file, 'Host *\n');
    expect(await findSshConfigProblem(await contextWithSshConfig(file, true))).toBeUndefined();
  });

  it('names a missing file and where it came from', async () => {
    expect(await findSshConfigProblem(await contextWithSshConfig('/nonexistent/ssh_config', true))).toBe(
      'the ssh_config /nonexistent/ssh_config (from --ssh-config) does not exist: create it, or fix --ssh-config',
    );
    expect(await findSshConfigProblem(await contextWithSshConfig('/nonexistent/ssh_config', false))).toBe(
      'the ssh_config /nonexistent/ssh_config (from ssh_config in playbooks/group_vars/all.yml) does not exist: create it, or fix ssh_config',
    );
  });

  it('refuses a folder', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'argos-ssh-config-'));
    expect(await findSshConfigProblem(await contextWithSshConfig(folder, true))).toBe(
      `the ssh_config ${folder} (from --ssh-config) is not a file: give an OpenSSH client config file`,
    );
  });
});
