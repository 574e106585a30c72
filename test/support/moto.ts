/**
 * Starts, resets and stops a moto server (an AWS emulator) on 127.0.0.1 for the
 * integration tests. Tests never talk to real AWS: every endpoint is loopback.
 */
import { createServer } from 'node:net';
import { execa, type ResultPromise } from 'execa';

/** A running moto server. */
export interface MotoServer {
  url: string;
  stop(): Promise<void>;
}

/** Throws unless `url` points at this machine: the guard that keeps tests off real AWS. */
export function assertLoopback(url: string): void {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
    throw new Error(`refusing to run tests against ${url}: the AWS emulator must be on 127.0.0.1`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function hasMotoServer(): Promise<boolean> {
  const result = await execa('moto_server', ['--help'], { reject: false, timeout: 30_000 });
  return result.exitCode === 0;
}

/**
 * Makes sure `moto_server` is on PATH: installs `moto[server]` with pip when pip
 * can reach its index, and otherwise fails saying how to get it.
 */
export async function ensureMotoServer(): Promise<void> {
  if (await hasMotoServer()) return;
  const install = await execa('python3', ['-m', 'pip', 'install', '--quiet', 'moto[server]'], { reject: false, timeout: 300_000 });
  if (install.exitCode === 0 && (await hasMotoServer())) return;
  throw new Error(
    "moto_server is not installed and pip could not install it (no access to its package index?). " +
      "Install it with: python3 -m pip install 'moto[server]' (Python 3.10+), or point MOTO_URL at a running moto server. " +
      `pip said: ${install.stderr.split('\n').slice(-3).join(' ')}`,
  );
}

async function waitUntilReady(url: string, child: ResultPromise, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error('moto_server exited during start-up');
    try {
      const response = await fetch(`${url}/moto-api/`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`moto_server did not answer at ${url} within ${timeoutMs / 1000}s`);
}

/** Starts `moto_server` on a free loopback port, with moto's stricter validations on. */
export async function startMotoServer(): Promise<MotoServer> {
  await ensureMotoServer();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = execa('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: { MOTO_ENABLE_AMI_VALIDATION: 'true', MOTO_ENABLE_KEYPAIR_VALIDATION: 'true' },
    stdio: 'ignore',
    reject: false,
  });
  try {
    await waitUntilReady(url, child, 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await child;
      clearTimeout(timer);
    },
  };
}

/** Wipes all emulated state (moto only takes a POST here). */
export async function resetMoto(url: string): Promise<void> {
  assertLoopback(url);
  const response = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
  if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
}

/**
 * The environment that points the AWS SDK (and every CLI spawned with it) at a
 * moto server: its endpoint, fake credentials, a real region, and no probing of
 * a real instance-metadata endpoint for credentials.
 */
export function emulatorEnvironment(url: string): Record<string, string> {
  assertLoopback(url);
  return {
    AWS_ENDPOINT_URL: url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    // Node 20 is supported by the pinned SDK; its notice about 2027 releases is noise here.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Points this process at the emulator: sets {@link emulatorEnvironment} and drops any profile. */
export function useEmulator(url: string): Record<string, string> {
  const environment = emulatorEnvironment(url);
  Object.assign(process.env, environment);
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[name];
  return environment;
}
