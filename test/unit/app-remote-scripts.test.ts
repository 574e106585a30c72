/**
 * Two one-command replacements of remote tasks, run with python3 as the playbooks
 * run them: the app's local health check after a deploy (playbooks/files/check_health.py,
 * against a real HTTP server on 127.0.0.1) and the image role's lookup of the
 * virtualenv and the requirements' stamp (playbooks/roles/image/files/code_state.py).
 * The playbooks run them on real machines in the local-cloud tests.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

const CHECK_HEALTH = join(REPO_ROOT, 'playbooks/files/check_health.py');
const CODE_STATE = join(REPO_ROOT, 'playbooks/roles/image/files/code_state.py');

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
