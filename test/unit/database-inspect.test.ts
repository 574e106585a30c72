/**
 * The database role's one remote command (playbooks/roles/database/files/inspect.py),
 * run with python3 as the role runs it, against stand-in `pg_isready` and `psql`
 * on PATH that answer as PostgreSQL's do: the wait, the lookups, and the message
 * a failure leaves for the role's failure task. The role itself runs against a
 * real PostgreSQL in test/integration/roles.test.ts and the local-cloud tests.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

const SCRIPT = join(REPO_ROOT, 'playbooks/roles/database/files/inspect.py');

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argos-inspect-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Stand-ins: pg_isready fails `notReady` times (exit 2, no response), then succeeds; psql answers by database. */
async function standIns(options: { notReady: number; exists: boolean; extensions: string[]; psqlError?: string }): Promise<void> {
  await writeFile(join(dir, 'polls'), '0');
  await writeFile(join(dir, 'pg_isready'), [
    '#!/bin/sh',
    `echo "$@" >> "${dir}/pg_isready.args"`,
    `n=$(cat "${dir}/polls"); echo $((n + 1)) > "${dir}/polls"`,
    `[ "$n" -ge ${String(options.notReady)} ] || exit 2`,
    'exit 0',
  ].join('\n'));
  const db = options.exists ? '1' : '0';
  await writeFile(join(dir, 'psql'), [
    '#!/bin/sh',
    `echo "$@" >> "${dir}/psql.args"`,
    `cat >> "${dir}/psql.stdin"`,
    `echo "PGPASSWORD=$PGPASSWORD" >> "${dir}/psql.env"`,
    ...(options.psqlError ? [`echo '${options.psqlError}' >&2`, 'exit 2'] : []),
    'for last; do :; done',
    `if [ "$last" = postgres ]; then echo ${db}; else printf '${options.extensions.map((e) => `${e}\\n`).join('')}'; fi`,
  ].join('\n'));
  await chmod(join(dir, 'pg_isready'), 0o755);
  await chmod(join(dir, 'psql'), 0o755);
}

/** A stand-in migration hook: records who ran it, where, with which database settings; prints `output`, exits `exitCode`. */
async function migrationHook(output: string, exitCode = 0): Promise<string[]> {
  const hook = join(dir, 'migrate');
  await writeFile(hook, [
    '#!/bin/sh',
    `{ id -un; echo "HOME=$HOME"; pwd; echo "DATABASE_URL=$DATABASE_URL"; echo "PGDATABASE=$PGDATABASE"; } > "${dir}/migrate.seen"`,
    `printf '${output}'`,
    `exit ${String(exitCode)}`,
  ].join('\n'));
  await chmod(hook, 0o755);
  return [hook, '--noinput'];
}

async function inspect(input: Record<string, unknown>, path?: string): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const script = await readFile(SCRIPT, 'utf8');
  // python3 by its full path: the missing-client case runs with a PATH of stand-ins only.
  const python = (await execa('python3', ['-c', 'import sys; print(sys.executable)'])).stdout;
  const result = await execa(python, ['-c', script], {
    input: JSON.stringify({ host: 'db.example', port: 5432, maintenance_db: 'postgres', name: 'argos', timeout: 10, poll: 0.05, ...input }),
    // As the role's task: libpq's settings, and for the migrations the app's database URL.
    env: { PATH: path ?? `${dir}:${process.env['PATH'] ?? ''}`, PGPASSWORD: 's3cret-canary', PGDATABASE: 'argos', DATABASE_URL: 'postgresql://argos:s3cret-canary@db.example:5432/argos' },
    reject: false,
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

describe('database inspect.py', () => {
  it('waits until the database accepts connections, then reports its database and extensions', async () => {
    await standIns({ notReady: 3, exists: true, extensions: ['hstore', 'pg_trgm', 'plpgsql'] });
    const result = await inspect({});
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ exists: true, extensions: ['hstore', 'pg_trgm', 'plpgsql'], migration: null });
    expect(await readFile(join(dir, 'polls'), 'utf8')).toBe('4\n');
    expect(await readFile(join(dir, 'pg_isready.args'), 'utf8')).toContain('--quiet -h db.example -p 5432 -d postgres');
    // The name goes in as a psql variable, quoted by psql (:'name'); the extensions are read from the app's database.
    const args = await readFile(join(dir, 'psql.args'), 'utf8');
    expect(args).toContain('-v name=argos -d postgres');
    expect(args).toMatch(/-d argos$/m);
    expect(await readFile(join(dir, 'psql.stdin'), 'utf8')).toContain("WHERE datname = :'name'");
    // The password reaches psql through the environment only: never argv, never stdin.
    expect(await readFile(join(dir, 'psql.env'), 'utf8')).toContain('PGPASSWORD=s3cret-canary');
    expect(args + (await readFile(join(dir, 'psql.stdin'), 'utf8'))).not.toContain('s3cret-canary');
  });

  it('reports a missing database without asking for its extensions', async () => {
    await standIns({ notReady: 0, exists: false, extensions: ['plpgsql'] });
    const result = await inspect({});
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ exists: false, extensions: [], migration: null });
    expect((await readFile(join(dir, 'psql.args'), 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('gives up at its timeout, saying where it waited and why', async () => {
    await standIns({ notReady: 1_000, exists: true, extensions: [] });
    const started = Date.now();
    const result = await inspect({ timeout: 1 });
    expect(result.exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(result.stderr.trim()).toBe(
      'the database at db.example:5432 did not accept connections within 1 s (pg_isready exit 2: 1 rejecting, 2 no response, 3 bad parameters)',
    );
    expect(result.stdout).toBe('');
  });

  it("fails with psql's own message when a lookup fails (a wrong password), and no password", async () => {
    await standIns({ notReady: 0, exists: true, extensions: [], psqlError: 'psql: error: FATAL:  password authentication failed for user "argos"' });
    const result = await inspect({});
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe('psql on database postgres exited 2: psql: error: FATAL:  password authentication failed for user "argos"');
    expect(result.stderr).not.toContain('s3cret-canary');
  });

  it('runs the migrations when the database has every wanted extension, as the given user, in the checkout, with the task environment', async () => {
    await standIns({ notReady: 0, exists: true, extensions: ['hstore', 'plpgsql'] });
    const argv = await migrationHook('Running upgrade 1 -> 2\n');
    const user = userInfo().username;
    const result = await inspect({ extensions: ['hstore'], migrate: { argv, chdir: dir, user } });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ exists: true, extensions: ['hstore', 'plpgsql'], migration: { stdout: 'Running upgrade 1 -> 2\n', stderr: '' } });
    expect((await readFile(join(dir, 'migrate.seen'), 'utf8')).split('\n')).toEqual([
      user,
      `HOME=${userInfo().homedir}`,
      dir,
      'DATABASE_URL=postgresql://argos:s3cret-canary@db.example:5432/argos',
      'PGDATABASE=argos',
      '',
    ]);
  });

  it('leaves the migrations to the role when an extension or the database is missing, or no command is given', async () => {
    await standIns({ notReady: 0, exists: true, extensions: ['plpgsql'] });
    const argv = await migrationHook('Running upgrade 1 -> 2\n');
    const missingExtension = await inspect({ extensions: ['hstore'], migrate: { argv, chdir: dir, user: userInfo().username } });
    expect(JSON.parse(missingExtension.stdout)).toEqual({ exists: true, extensions: ['plpgsql'], migration: null });
    const noCommand = await inspect({ extensions: [], migrate: { argv: [], chdir: dir, user: userInfo().username } });
    expect(JSON.parse(noCommand.stdout)).toEqual({ exists: true, extensions: ['plpgsql'], migration: null });
    await standIns({ notReady: 0, exists: false, extensions: [] });
    const missingDatabase = await inspect({ extensions: [], migrate: { argv, chdir: dir, user: userInfo().username } });
    expect(JSON.parse(missingDatabase.stdout)).toEqual({ exists: false, extensions: [], migration: null });
    await expect(readFile(join(dir, 'migrate.seen'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it("fails with the migrations' own output when they fail", async () => {
    await standIns({ notReady: 0, exists: true, extensions: [] });
    const argv = await migrationHook('Applying 0002...\nProgrammingError: column x already exists\n', 3);
    const result = await inspect({ migrate: { argv, chdir: dir, user: userInfo().username } });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe(`the migrations (${argv.join(' ')}) exited 3:\nApplying 0002...\nProgrammingError: column x already exists`);
  });

  it.runIf(process.getuid?.() === 0)('runs the migrations as another user, with that user\'s home and groups, when run as root', async () => {
    await standIns({ notReady: 0, exists: true, extensions: [] });
    // Outside vitest's own temporary folder (0700): nobody must reach the hook and write what it saw.
    const shared = await mkdtemp('/tmp/argos-inspect-nobody-');
    try {
      await chmod(shared, 0o777);
      const hook = join(shared, 'migrate');
      await writeFile(hook, `#!/bin/sh\n{ id -un; echo "HOME=$HOME"; pwd; id -G; } > "${shared}/seen"\n`);
      await chmod(hook, 0o755);
      const result = await inspect({ migrate: { argv: [hook], chdir: '/', user: 'nobody' } });
      expect(result.exitCode, result.stderr).toBe(0);
      const [name, home, cwd, groups] = (await readFile(join(shared, 'seen'), 'utf8')).split('\n');
      expect([name, home, cwd]).toEqual(['nobody', 'HOME=/nonexistent', '/']);
      // nobody's own groups only: none of root's is kept.
      expect(groups?.split(' ')).not.toContain('0');
      // A hook nobody cannot reach (under vitest's 0700 folder): said, not a traceback.
      const [unreachable = ''] = await migrationHook('');
      const denied = await inspect({ migrate: { argv: [unreachable], chdir: '/', user: 'nobody' } });
      expect(denied.exitCode).toBe(1);
      expect(denied.stderr.trim()).toBe(`could not run ${unreachable}: Permission denied (${unreachable})`);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });

  it('says the PostgreSQL client is missing instead of a traceback', async () => {
    const result = await inspect({}, dir);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe(
      "pg_isready is not installed on this server: the database role needs the PostgreSQL client (postgresql-client, in the image role's image_packages; run argos deploy --full to install it)",
    );
  });
});
