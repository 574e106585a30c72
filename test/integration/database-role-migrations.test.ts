/**
 * The database role's two ways to the migrations, with the real ansible-playbook
 * on playbooks/database.yml as committed: on a database that has what the app
 * wants, files/inspect.py runs them in its one remote command (and the task says
 * `changed` when they did something); where the role first creates an extension,
 * its own migration task runs them. A failing hook stops the play with the hook's
 * output, which no_log would otherwise hide.
 *
 * The host is this machine over a local connection, with stand-in `pg_isready`
 * and `psql` (as PostgreSQL's answer) and a stand-in migration hook on PATH:
 * nothing is installed here and no network is used. The role against a real
 * PostgreSQL is test/integration/roles.test.ts (`./test.sh database`).
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argos-dbrole-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes an executable script into the test's folder. */
async function writeScript(name: string, lines: string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, ['#!/bin/sh', ...lines].join('\n'));
  await chmod(path, 0o755);
  return path;
}

/**
 * Stand-ins: the database accepts connections and exists with `extensions`;
 * psql records every SQL it is sent; the hook prints `output` and exits `exitCode`,
 * recording that it ran.
 */
async function standIns(extensions: string[], output: string, exitCode = 0): Promise<string> {
  await writeScript('pg_isready', ['exit 0']);
  await writeScript('psql', [
    `cat >> "${dir}/sql"`,
    'for last; do :; done',
    `if [ "$last" = postgres ]; then echo 1; else printf '${extensions.map((e) => `${e}\\n`).join('')}'; fi`,
  ]);
  return writeScript('migrate', [`echo ran >> "${dir}/migrations"`, `printf '${output}'`, `exit ${String(exitCode)}`]);
}

/** ansible-playbook on playbooks/database.yml, this machine as the one app server. */
async function runPlay(hook: string, extensions: string[]): Promise<{ exitCode: number | undefined; stdout: string }> {
  await writeFile(join(dir, 'hosts'), '[appservers]\nlocal ansible_connection=local ansible_become=false\n');
  const vars = {
    db_host: 'db.internal',
    db_name: 'argos',
    db_user: 'argos',
    db_pass: 'canary-db-secret-e51b',
    app_path: dir,
    app_user: userInfo().username,
    database_extensions: extensions,
    database_migrate_command: [hook],
    // As after app.yml's converged check: the client is in the image's packages (no apt here) and cloud-init is done.
    converged_path: 'none',
    image_desired: { packages: ['postgresql-client'] },
  };
  await writeFile(join(dir, 'vars.json'), JSON.stringify(vars));
  const python = (await execa('python3', ['-c', 'import sys; print(sys.executable)'])).stdout;
  const result = await execa('ansible-playbook', ['-i', join(dir, 'hosts'), '-e', `@${join(dir, 'vars.json')}`, join(REPO_ROOT, 'playbooks', 'database.yml')], {
    env: {
      PATH: `${dir}:${process.env['PATH'] ?? ''}`,
      ANSIBLE_CONFIG: join(REPO_ROOT, 'playbooks', 'ansible.cfg'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_PYTHON_INTERPRETER: python,
    },
    reject: false,
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout) };
}

/** The status line Ansible printed for a task (ok, changed, skipping, fatal). */
function statusOf(stdout: string, task: string): string | undefined {
  const at = stdout.indexOf(`TASK [database : ${task}]`);
  if (at < 0) return undefined;
  return /\n(ok|changed|skipping|fatal):/.exec(stdout.slice(at))?.[1];
}

describe('the database role runs the migrations', () => {
  it('inside its one remote command when the database has every wanted extension, changed when they did something', async () => {
    const hook = await standIns(['hstore', 'plpgsql'], 'Running upgrade 1 -> 2\n');
    const result = await runPlay(hook, ['hstore']);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(statusOf(result.stdout, 'Ask the database what it has, and migrate it when it has it all')).toBe('changed');
    expect(statusOf(result.stdout, "Run the app's migrations")).toBe('skipping');
    expect(statusOf(result.stdout, "Create the app's extensions")).toBe('skipping');
    expect(result.stdout).toContain('"Running upgrade 1 -> 2"');
    expect(result.stdout).toMatch(/local\s+: ok=\d+\s+changed=1 /);
    expect(await readFile(join(dir, 'migrations'), 'utf8')).toBe('ran\n');
    expect(result.stdout).not.toContain('canary-db-secret-e51b');
  });

  it('and reports ok when they had nothing to do', async () => {
    const hook = await standIns(['plpgsql'], 'Schema is up to date\n');
    const result = await runPlay(hook, []);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(statusOf(result.stdout, 'Ask the database what it has, and migrate it when it has it all')).toBe('ok');
    expect(result.stdout).toMatch(/local\s+: ok=\d+\s+changed=0 /);
  });

  it('with its own task once it has created a missing extension', async () => {
    const hook = await standIns(['plpgsql'], 'Running upgrade 1 -> 2\n');
    const result = await runPlay(hook, ['hstore']);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(statusOf(result.stdout, "Create the app's extensions")).toBe('changed');
    expect(await readFile(join(dir, 'sql'), 'utf8')).toContain('CREATE EXTENSION IF NOT EXISTS :"name";');
    expect(statusOf(result.stdout, "Run the app's migrations")).toBe('changed');
    expect(result.stdout).toContain('"Running upgrade 1 -> 2"');
    expect(await readFile(join(dir, 'migrations'), 'utf8')).toBe('ran\n');
  });

  it("and a failure stops the play with the hook's output, either way", async () => {
    const inside = await standIns(['plpgsql'], 'Applying 0002\\nProgrammingError: column x already exists\\n', 3);
    const viaInspect = await runPlay(inside, []);
    expect(viaInspect.exitCode).not.toBe(0);
    expect(statusOf(viaInspect.stdout, 'Stop when the database could not be asked or migrated')).toBe('fatal');
    expect(viaInspect.stdout).toContain(`the migrations (${inside}) exited 3:\\nApplying 0002\\nProgrammingError: column x already exists`);

    const own = await standIns(['plpgsql'], 'Applying 0002\\nProgrammingError: column x already exists\\n', 3);
    const viaTask = await runPlay(own, ['hstore']);
    expect(viaTask.exitCode).not.toBe(0);
    expect(statusOf(viaTask.stdout, 'Stop when the migrations failed')).toBe('fatal');
    expect(viaTask.stdout).toContain(`the migrations (${own}) exited 3:\\nApplying 0002\\nProgrammingError: column x already exists`);
    expect(viaInspect.stdout + viaTask.stdout).not.toContain('canary-db-secret-e51b');
  });
}, 240_000);
