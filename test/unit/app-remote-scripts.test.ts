/**
 * Scripts the playbooks run on the servers as one remote command, run here with python3
 * as the playbooks run them: the app's local health check after a deploy
 * (playbooks/files/check_health.py, against a real HTTP server on 127.0.0.1), the image
 * role's lookup of the virtualenv and the requirements' stamp
 * (playbooks/roles/image/files/code_state.py), and how the converged check
 * (playbooks/roles/converged/files/probe.py) files the app's configuration apart, and
 * the config path's writer of that configuration (playbooks/roles/app_common/files/write_config.py).
 * The playbooks run them on real machines in the local-cloud tests.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

const CHECK_HEALTH = join(REPO_ROOT, 'playbooks/files/check_health.py');
const CODE_STATE = join(REPO_ROOT, 'playbooks/roles/image/files/code_state.py');
const PROBE = join(REPO_ROOT, 'playbooks/roles/converged/files/probe.py');
const WRITE_CONFIG = join(REPO_ROOT, 'playbooks/roles/app_common/files/write_config.py');

describe('check_health.py', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  /** A server on 127.0.0.1 answering the n-th request (0-based) with statuses[n], the last one after that; returns its URL and the request count. */
  async function serve(statuses: number[]): Promise<{ url: string; requests: () => number }> {
    let count = 0;
    server = createServer((request, response) => {
      const status = statuses[Math.min(count, statuses.length - 1)] ?? 500;
      count += 1;
      response.writeHead(status).end(request.url);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${String(port)}/health`, requests: () => count };
  }

  it('polls until the app answers 200, then exits 0', async () => {
    const app = await serve([502, 503, 200]);
    const result = await execa('python3', [CHECK_HEALTH, app.url, '10', '0.05'], { reject: false });
    expect(result.exitCode).toBe(0);
    expect(app.requests()).toBe(3);
  });

  it('gives up after its attempts and names the last status', async () => {
    const app = await serve([500]);
    const result = await execa('python3', [CHECK_HEALTH, app.url, '3', '0.05'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(app.requests()).toBe(3);
    expect(result.stderr).toBe(`${app.url} did not answer 200 in 3 attempts 0.05 s apart: the last got HTTP 500`);
  });

  it('says why when nothing answers on the port', async () => {
    const app = await serve([200]);
    const { url } = app;
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    const result = await execa('python3', [CHECK_HEALTH, url, '2', '0.05'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/did not answer 200 in 2 attempts 0\.05 s apart: the last got no answer \(.*Connection refused/);
  });
});

describe('code_state.py', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'argos-code-state-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function ask(): Promise<{ venv: boolean; checksum: string | null; stamped: boolean }> {
    const input = JSON.stringify({ venv: join(dir, 'venv'), requirements: join(dir, 'app', 'requirements.txt') });
    const result = await execa('python3', [CODE_STATE], { input });
    return JSON.parse(result.stdout) as { venv: boolean; checksum: string | null; stamped: boolean };
  }

  it('finds no virtualenv and no requirements file on an empty server', async () => {
    expect(await ask()).toEqual({ venv: false, checksum: null, stamped: false });
  });

  it("names the stamp by the requirements' SHA-1, as the stat module and the converged probe do", async () => {
    const requirements = 'Django==4.2\n';
    const sha1 = createHash('sha1').update(requirements).digest('hex');
    await mkdir(join(dir, 'app'));
    await mkdir(join(dir, 'venv', 'bin'), { recursive: true });
    await writeFile(join(dir, 'app', 'requirements.txt'), requirements);
    await writeFile(join(dir, 'venv', 'bin', 'python'), '');
    expect(await ask()).toEqual({ venv: true, checksum: sha1, stamped: false });

    await writeFile(join(dir, 'venv', `.argos-requirements-${sha1}`), '');
    expect(await ask()).toEqual({ venv: true, checksum: sha1, stamped: true });

    // Changed requirements: the old stamp no longer counts.
    await writeFile(join(dir, 'app', 'requirements.txt'), `${requirements}celery==5.3\n`);
    expect((await ask()).stamped).toBe(false);
  });
});

describe('probe.py: the app configuration apart (the config path)', () => {
  const CONTENT = 'DATABASE_HOST = "db.example"\n';
  const OWNER = userInfo().username;
  let dir: string;
  let group: string;
  let closedUrl: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'argos-probe-test-'));
    group = (await execa('id', ['-gn'])).stdout.trim();
    // A port nothing listens on: the app "does not answer" its health check.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    closedUrl = `http://127.0.0.1:${String((holder.address() as AddressInfo).port)}/`;
    await new Promise((resolve) => holder.close(resolve));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The configuration as the converged role describes it: one directory and one file in it. */
  const configWant = () => ({
    dirs: [{ path: join(dir, 'conf'), owner: OWNER, group, mode: '0750' }],
    files: [{ path: join(dir, 'conf', 'app_config.py'), sha256: createHash('sha256').update(CONTENT).digest('hex'), owner: OWNER, group, mode: '0640' }],
  });

  /** Writes the configuration as wanted, or with other content. */
  async function writeConfig(content: string): Promise<void> {
    await mkdir(join(dir, 'conf'), { recursive: true });
    await chmod(join(dir, 'conf'), 0o750);
    await writeFile(join(dir, 'conf', 'app_config.py'), content);
    await chmod(join(dir, 'conf', 'app_config.py'), 0o640);
  }

  /** Runs the probe with nothing else wanted but the configuration (as an app server's, or with the other files as a worker's) and the health check. */
  async function probe(asApp: boolean): Promise<{ drift: string[]; code: string[]; config: string[] }> {
    const config = configWant();
    const want = {
      packages: [],
      user: { name: OWNER, group, home: userInfo().homedir, shell: userInfo().shell ?? '' },
      dirs: asApp ? [] : config.dirs,
      files: asApp ? [] : config.files,
      units: [],
      health_check: closedUrl,
      git: { path: join(dir, 'app'), repo: 'https://example.invalid/app.git', ref: 'main', user: OWNER, home: dir },
      venv: { path: join(dir, 'venv'), requirements: 'requirements.txt' },
      ...(asApp ? { config: { ...config, units: [] } } : {}),
    };
    const result = await execa('python3', [PROBE], { input: JSON.stringify(want) });
    return JSON.parse(result.stdout) as { drift: string[]; code: string[]; config: string[] };
  }

  it('a prepared server (no configuration, the app not answering): both under config, not drift', async () => {
    const found = await probe(true);
    expect(found.config).toEqual([
      `${join(dir, 'conf')}: missing`,
      `${join(dir, 'conf', 'app_config.py')}: missing`,
      expect.stringMatching(new RegExp(`^${closedUrl}: no answer`)),
    ]);
    expect(found.drift.filter((line) => line.includes(dir) || line.startsWith(closedUrl))).toEqual([]);
  });

  it('a changed configuration file: under config, with the app not answering', async () => {
    await writeConfig('DATABASE_HOST = "old.example"\n');
    const found = await probe(true);
    expect(found.config).toEqual([`${join(dir, 'conf', 'app_config.py')}: content differs`, expect.stringMatching(/no answer/)]);
  });

  it('the configuration as wanted but the app not answering: drift (the full run), not config', async () => {
    await writeConfig(CONTENT);
    const found = await probe(true);
    expect(found.config).toEqual([]);
    expect(found.drift).toContainEqual(expect.stringMatching(new RegExp(`^${closedUrl}: no answer`)));
  });

  it('a worker (no config given): its configuration files count as drift', async () => {
    await writeConfig('DATABASE_HOST = "old.example"\n');
    const found = await probe(false);
    expect(found.config).toEqual([]);
    expect(found.drift).toContain(`${join(dir, 'conf', 'app_config.py')}: content differs`);
    expect(found.drift).toContainEqual(expect.stringMatching(/no answer/));
  });
});

describe('write_config.py', () => {
  const OWNER = userInfo().username;
  let dir: string;
  let group: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'argos-write-config-test-'));
    group = (await execa('id', ['-gn'])).stdout.trim();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The configuration as desired.yml describes it, with each file's text. */
  const want = (app: string, celery: string) => ({
    dirs: [{ path: join(dir, 'conf'), owner: OWNER, group, mode: '0750' }],
    files: [
      { path: join(dir, 'conf', 'app_config.py'), content: app, sha256: 'not read', owner: OWNER, group, mode: '0640' },
      { path: join(dir, 'conf', 'celery_config.py'), content: celery, owner: OWNER, group, mode: '0640' },
    ],
  });
  const write = async (input: object): Promise<string[]> =>
    JSON.parse((await execa('python3', [WRITE_CONFIG], { input: JSON.stringify(input) })).stdout) as string[];
  const modeOf = async (path: string): Promise<string> => ((await stat(path)).mode & 0o7777).toString(8);

  it('creates the directory and the files with their modes, and lists them', async () => {
    const changed = await write(want('DATABASE_HOST = "db.example"  # é\n', 'BROKER = 1\n'));
    expect(changed).toEqual([join(dir, 'conf'), join(dir, 'conf', 'app_config.py'), join(dir, 'conf', 'celery_config.py')]);
    expect(await readFile(join(dir, 'conf', 'app_config.py'), 'utf8')).toBe('DATABASE_HOST = "db.example"  # é\n');
    expect(await modeOf(join(dir, 'conf'))).toBe('750');
    expect(await modeOf(join(dir, 'conf', 'app_config.py'))).toBe('640');
    // No temporary file is left beside them.
    expect((await readdir(join(dir, 'conf'))).sort()).toEqual(['app_config.py', 'celery_config.py']);
  });

  it('changes nothing when all is as wanted, and only what differs otherwise', async () => {
    await write(want('A = 1\n', 'B = 1\n'));
    const celeryBefore = await stat(join(dir, 'conf', 'celery_config.py'));
    expect(await write(want('A = 1\n', 'B = 1\n'))).toEqual([]);

    expect(await write(want('A = 2\n', 'B = 1\n'))).toEqual([join(dir, 'conf', 'app_config.py')]);
    expect(await readFile(join(dir, 'conf', 'app_config.py'), 'utf8')).toBe('A = 2\n');
    expect((await stat(join(dir, 'conf', 'celery_config.py'))).ino).toBe(celeryBefore.ino);

    // A mode changed by hand, on a file and on the directory.
    await chmod(join(dir, 'conf', 'celery_config.py'), 0o644);
    await chmod(join(dir, 'conf'), 0o755);
    expect(await write(want('A = 2\n', 'B = 1\n'))).toEqual([join(dir, 'conf'), join(dir, 'conf', 'celery_config.py')]);
    expect(await modeOf(join(dir, 'conf', 'celery_config.py'))).toBe('640');
    expect(await modeOf(join(dir, 'conf'))).toBe('750');
  });

  it('fails naming the path and the reason, never the content', async () => {
    const input = want('PASSWORD = "canary-write-config-8c1f"\n', 'B = 1\n');
    input.files[0] = { ...input.files[0], owner: 'argos-no-such-user' } as (typeof input.files)[0];
    const result = await execa('python3', [WRITE_CONFIG], { input: JSON.stringify(input), reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe(`could not write ${join(dir, 'conf', 'app_config.py')}: no user or group 'argos-no-such-user'`);
    expect(result.stdout + result.stderr).not.toContain('canary-write-config-8c1f');
  });
});
