/**
 * Spawns the built CLI the way a user runs it, in a scratch project folder.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO_ROOT, 'dist', 'cli.js');

/** What one CLI run printed and returned. */
export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment a spawned CLI starts from: PATH, HOME (the project) and the
 * test run's TMPDIR (test/support/run-tmpdir.ts), so what the CLI leaves in its
 * temporary directory when a test kills it goes with the run's.
 */
export function baseCliEnv(home: string): Record<string, string> {
  const tmp = process.env['TMPDIR'];
  return { PATH: process.env['PATH'] ?? '', HOME: home, ...(tmp ? { TMPDIR: tmp } : {}) };
}

/** Runs `node dist/cli.js ...args` in `cwd` with exactly `env` (plus {@link baseCliEnv}). */
export async function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; nodeArgs?: string[]; timeout?: number },
): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const result = await execa('node', [...(options.nodeArgs ?? []), CLI, ...args], {
    cwd: options.cwd,
    env: { ...baseCliEnv(options.cwd), ...options.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: options.timeout ?? 30_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A valid config; override or drop keys per test. */
export function sampleConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    app_name: 'argos',
    region: 'us-east-1',
    base_ami: 'ami-04681a1dbd79675a5',
    key_name: 'argos-test',
    login_user: 'ubuntu',
    db_user: 'argos',
    db_pass: 'canary-Secret-9f3b2c',
    ...overrides,
  };
}

/** Makes a scratch project folder holding `playbooks/group_vars/all.yml` (unless `config` is null). */
export async function makeProject(config: Record<string, unknown> | string | null = sampleConfig()): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'argos-test-'));
  await mkdir(join(root, 'playbooks', 'group_vars'), { recursive: true });
  if (config !== null) {
    const text =
      typeof config === 'string'
        ? config
        : Object.entries(config)
            .filter(([, value]) => value !== undefined)
            .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
            .join('\n');
    await writeFile(join(root, 'playbooks', 'group_vars', 'all.yml'), `${text}\n`);
  }
  await mkdir(join(root, 'keys'), { recursive: true });
  await writeFile(join(root, 'keys', 'argos-test.pem'), 'not a real key\n');
  await chmod(join(root, 'keys', 'argos-test.pem'), 0o600);
  return root;
}

/** The text of the committed sample config. */
export function readSampleConfig(): Promise<string> {
  return readFile(join(REPO_ROOT, 'playbooks', 'group_vars', 'all-sample.yml'), 'utf8');
}
