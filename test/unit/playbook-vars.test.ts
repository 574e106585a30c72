/**
 * The database password reaches Ansible through a private, short-lived vars
 * file: it may come from ARGOS_DB_PASSWORD instead of group_vars/all.yml, and
 * it must never be in ansible-playbook's argv or environment.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findSshConfigProblem, withPlaybookVars } from '../../src/commands/connection.js';
import type { Context } from '../../src/context.js';
import { Secret } from '../../src/secret.js';

function contextWith(password: string, config = '/project/playbooks/group_vars/all.yml'): Context {
  // Only what withPlaybookVars reads.
  return { config: { dbPassword: new Secret(password) }, paths: { root: '/project', config } } as unknown as Context;
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
    expect(files[1]).toMatch(new RegExp(`argos-vars-[^/]+${join('/', 'secrets.json')}$`));
    expect(existsSync(files[1] ?? '')).toBe(false);
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
