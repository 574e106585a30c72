/**
 * A real Linux target for tests that need one (image bake, deploy, end to end):
 * a thin wrapper over `scripts/local-target.sh`, which runs a debootstrapped
 * Debian root with sshd in its own namespaces on 127.0.0.1.
 *
 * @example
 * ```ts
 * const can = canRunLocalTarget();
 * it.skipIf(!can.ok)('deploys', async () => {
 *   const target = await startLocalTarget();
 *   try { ... } finally { await target.stop(); }
 * });
 * ```
 */
import { execa, execaSync } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/local-target.sh', import.meta.url));

/** Options of {@link startLocalTarget}. */
export interface LocalTargetOptions {
  /** sshd port on 127.0.0.1. Default: a free port the OS picks. */
  readonly port?: number;
  /** Where the PID, key pair and ssh_config go. Default: a fresh temporary directory, removed by `stop()`. */
  readonly stateDir?: string;
  /** Cached root filesystem and apt caches. Default: the script's (`.cache/local-target`). */
  readonly cacheDir?: string;
  /** Login user with passwordless sudo. Default: `ubuntu`, as on EC2's Ubuntu images. */
  readonly user?: string;
  /** Host paths bind-mounted read-only into the target. */
  readonly binds?: ReadonlyArray<{ readonly source: string; readonly target: string }>;
}

/** A running local target. */
export interface LocalTarget {
  /** Address sshd listens on (always 127.0.0.1). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Private key that logs in as `user` (mode 0600). */
  readonly keyPath: string;
  /**
   * OpenSSH client config mapping `*.amazonaws.com`, `*.compute.internal` and
   * 127.0.0.1 to this target with the key above; pass it with `-F`.
   */
  readonly sshConfigPath: string;
  /** known_hosts file the ssh config uses (StrictHostKeyChecking accept-new). */
  readonly knownHostsPath: string;
  /** PID of the target's PID 1 (its sshd), as the machine sees it. */
  readonly pid: number;
  readonly stateDir: string;
  /** Stops the target: kills its PID 1 (and with it every process and mount in it). Safe to call twice. */
  stop(): Promise<void>;
}

/** Whether this machine can run a local target, and if not, why. */
export interface LocalTargetCapability {
  readonly ok: boolean;
  readonly reason?: string;
}

/**
 * Tells whether {@link startLocalTarget} can work here (root, debootstrap,
 * namespaces, overlayfs). Synchronous so that `it.skipIf` can use it.
 */
export function canRunLocalTarget(): LocalTargetCapability {
  const result = execaSync(SCRIPT, ['check'], { reject: false });
  if (result.exitCode === 0) {
    return { ok: true };
  }
  const reason = String(result.stderr ?? '').trim() || String(result.stdout ?? '').trim();
  return { ok: false, reason: reason || `scripts/local-target.sh check exited with ${String(result.exitCode)}` };
}

/**
 * Like {@link canRunLocalTarget}, for test suites that skip without a target:
 * when `ARGOS_REQUIRE_LOCAL_TARGET=1` is set (CI), a missing capability throws
 * instead, so that CI fails rather than skips.
 *
 * @param env - the environment to read (defaults to `process.env`).
 * @returns `{ ok: true }`, or `{ ok: false, reason }` to pass to `it.skipIf`.
 */
export function localTargetOrSkip(env: NodeJS.ProcessEnv = process.env): LocalTargetCapability {
  const capability = canRunLocalTarget();
  if (!capability.ok && env['ARGOS_REQUIRE_LOCAL_TARGET'] === '1') {
    throw new Error(
      `ARGOS_REQUIRE_LOCAL_TARGET=1 but a local target cannot run here: ${capability.reason ?? 'unknown reason'}`,
    );
  }
  return capability;
}

/**
 * Starts a local target and resolves once sshd accepts the generated key.
 * The first start on a machine builds the cached root filesystem (about 40 s).
 */
export async function startLocalTarget(options: LocalTargetOptions = {}): Promise<LocalTarget> {
  const port = options.port ?? (await findFreePort());
  const ownsStateDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'argos-target-')));
  const args = ['up', '--port', String(port), '--state-dir', stateDir];
  if (options.cacheDir !== undefined) args.push('--cache-dir', options.cacheDir);
  if (options.user !== undefined) args.push('--user', options.user);
  for (const bind of options.binds ?? []) args.push('--bind', `${bind.source}:${bind.target}`);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await execa(SCRIPT, ['down', '--state-dir', stateDir]);
    if (ownsStateDir) await rm(stateDir, { recursive: true, force: true });
  };

  try {
    const { stdout } = await execa(SCRIPT, args);
    const env = parseKeyValues(stdout);
    return {
      host: required(env, 'TARGET_HOST'),
      port: Number(required(env, 'TARGET_PORT')),
      user: required(env, 'TARGET_USER'),
      keyPath: required(env, 'TARGET_KEY'),
      sshConfigPath: required(env, 'TARGET_SSH_CONFIG'),
      knownHostsPath: required(env, 'TARGET_KNOWN_HOSTS'),
      pid: Number(required(env, 'TARGET_PID')),
      stateDir,
      stop,
    };
  } catch (error) {
    // `up` cleans up after itself; this also removes our temporary directory.
    await stop().catch(() => undefined);
    throw error;
  }
}

/** Reads the KEY=VALUE lines that `local-target.sh up` prints (also in `<stateDir>/target.env`). */
export async function readLocalTargetEnv(stateDir: string): Promise<Record<string, string>> {
  return parseKeyValues(await readFile(join(stateDir, 'target.env'), 'utf8'));
}

function parseKeyValues(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) values[match[1]] = match[2];
  }
  return values;
}

function required(values: Record<string, string>, key: string): string {
  const value = values[key];
  if (value === undefined || value === '') {
    throw new Error(`scripts/local-target.sh up did not print ${key}`);
  }
  return value;
}

/** Asks the OS for a free loopback port (sshd binds it a moment later). */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
