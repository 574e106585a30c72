/**
 * The local cloud harness: a moto server's control plane with a real data plane.
 * Composes the machine layer (cloud.ts), the AWS proxy in front of moto
 * (aws-proxy.ts, the endpoint argos and the tests use), the EC2 sync (sync.ts)
 * and the database plane (database.ts).
 *
 * @example
 * ```ts
 * const h = await startHarness({ motoEndpoint: moto.url, name: 'ct', identityFile: key });
 * // AWS_ENDPOINT_URL=h.endpoint argos …; ssh -F h.sshConfigPath <public DNS name>
 * await h.stop();
 * ```
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { startAwsProxy, type AwsProxy } from './aws-proxy.js';
import { startBalancing, type BalancingPlane } from './balancing.js';
import { DEFAULT_CACHE_DIR, startCloud, type Cloud, type CloudOptions } from './cloud.js';
import { ensurePostgresLayer, makeHarnessKey, startDatabases, type Databases } from './database.js';
import { run } from './proc.js';
import { startSync, type Sync } from './sync.js';

/** What a plane plugged into the harness gets (see {@link HarnessOptions.planes}). */
export interface PlaneContext {
  readonly cloud: Cloud;
  readonly proxy: AwsProxy;
  readonly motoEndpoint: string;
  /** Configuration for SDK clients that talk to moto directly (not intercepted). */
  readonly clientConfig: MotoClientConfig;
  readonly log: (line: string) => void;
}

/** A running plane: the load balancers, the group-health loop, … */
export interface Plane {
  /** Lines for `cli.ts up` to print (e.g. a load balancer's local port), asked each time. */
  describe?(): string[];
  stop(): Promise<void>;
}

/** Starts a plane once cloud, proxy, sync and databases run. */
export type StartPlane = (context: PlaneContext) => Promise<Plane>;

/** SDK client configuration pointed at moto itself. */
export interface MotoClientConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly maxAttempts: number;
}

/** Options of {@link startHarness}. */
export interface HarnessOptions {
  /** The moto server (127.0.0.1 only). */
  readonly motoEndpoint: string;
  /** The cloud's short name (1–4 characters; namespace `lc-<name>`). */
  readonly name: string;
  /** Login user of the machines: `ubuntu` (default) or `admin`. */
  readonly user?: string;
  /** Private key the ssh_config logs in with (the key pair's). */
  readonly identityFile?: string;
  /** Added delay of the ssh relay per direction (latency model). */
  readonly delayMs?: number;
  /** Host directories every machine sees read-only (see {@link CloudOptions.binds}). */
  readonly binds?: CloudOptions['binds'];
  /** The least time a new database takes to become available (the databases' `createMs`, localcloud/database.ts). Default 0. */
  readonly databaseCreateMs?: number;
  /** Region of the SDK clients the harness points at moto. Default `us-east-1`. */
  readonly region?: string;
  readonly cacheDir?: string;
  /** One line per thing the harness did or could not do. Default: stderr. */
  readonly log?: (line: string) => void;
  /**
   * More data planes, started in order after the EC2 sync and the databases and stopped
   * before them, in reverse order: this is where the load balancer data plane and the
   * group-health loop (issue 14, points 5–6) plug in.
   */
  readonly planes?: readonly StartPlane[];
}

/** A running harness. */
export interface Harness {
  /** The proxy's URL: the AWS endpoint for argos, the SDK and the tests. */
  readonly endpoint: string;
  readonly cloud: Cloud;
  readonly sshConfigPath: string;
  readonly proxy: AwsProxy;
  readonly sync: Sync;
  readonly databases: Databases;
  /** The load balancers (verdicts, local ports) and the groups' replacement of unhealthy instances. */
  readonly balancing: BalancingPlane;
  readonly planes: readonly Plane[];
  /** Stops the loops and the proxy, then the cloud (machines, namespace, mounts); throws if anything is left. */
  stop(): Promise<void>;
}

/** Machines at once the harness is sized for (issue 14): each nspawn machine uses 6–7 inotify instances. */
const MACHINES_AT_ONCE = 40;
const INOTIFY_PER_MACHINE = 8;
const INOTIFY_FILE = '/proc/sys/fs/inotify/max_user_instances';

/**
 * Raises `fs.inotify.max_user_instances` (default 128: every container counts against
 * root's limit, so about 18 machines fail to boot) — only upward, never lowered.
 * Returns a line saying what it did, or undefined when the limit is already enough.
 */
export async function raiseInotifyLimit(machines = MACHINES_AT_ONCE): Promise<string | undefined> {
  const current = Number(readFileSync(INOTIFY_FILE, 'utf8').trim());
  const wanted = 128 + machines * INOTIFY_PER_MACHINE;
  if (current >= wanted) return undefined;
  try {
    writeFileSync(INOTIFY_FILE, String(wanted));
  } catch {
    await run('sysctl', [`fs.inotify.max_user_instances=${String(wanted)}`]);
  }
  return `raised fs.inotify.max_user_instances from ${String(current)} to ${String(wanted)} (room for ${String(machines)} machines; never lowered)`;
}

/** Starts cloud, proxy, sync and database plane; on a failure stops what it started. */
export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const log = options.log ?? ((line: string) => process.stderr.write(`localcloud: ${line}\n`));
  const user = options.user ?? 'ubuntu';
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const raised = await raiseInotifyLimit();
  if (raised) log(raised);
  const layer = await ensurePostgresLayer({ cacheDir, user, log });
  const cloud = await startCloud({
    name: options.name, user, cacheDir,
    ...(options.identityFile !== undefined ? { identityFile: options.identityFile } : {}),
    ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
    ...(options.binds !== undefined ? { binds: options.binds } : {}),
  });
  let proxy: AwsProxy | undefined;
  let sync: Sync | undefined;
  let databases: Databases | undefined;
  const planes: Plane[] = [];
  let balancing: BalancingPlane | undefined;
  const stop = async (): Promise<void> => {
    for (const plane of [...planes].reverse()) await plane.stop().catch((error: unknown) => log(`a plane failed to stop: ${String(error)}`));
    await sync?.stop();
    await databases?.stop();
    await proxy?.stop();
    await cloud.shutdown();
  };
  try {
    proxy = await startAwsProxy({
      motoEndpoint: options.motoEndpoint,
      onError: (error, request) => log(`interceptor of ${request.service} ${request.action} failed: ${String(error)}`),
    });
    // The harness's own clients talk to moto directly: its calls are not intercepted.
    const clientConfig: MotoClientConfig = {
      endpoint: options.motoEndpoint, region: options.region ?? 'us-east-1',
      credentials: { accessKeyId: 'localcloud', secretAccessKey: 'localcloud' }, maxAttempts: 2,
    };
    sync = startSync({ cloud, proxy, ec2: new EC2Client(clientConfig), log });
    databases = startDatabases({
      cloud, proxy, rds: new RDSClient(clientConfig), layer, harnessKey: await makeHarnessKey(cloud.stateDir), log,
      ...(options.databaseCreateMs !== undefined ? { createMs: options.databaseCreateMs } : {}),
    });
    // The load balancers' data plane and the groups' health replacement (issue 14, points 5–6),
    // then any further planes: each registers its interceptors on `proxy` and is stopped first.
    balancing = await startBalancing({ cloud, proxy, motoEndpoint: options.motoEndpoint, clientConfig, log });
    planes.push(balancing);
    for (const startPlane of options.planes ?? []) {
      planes.push(await startPlane({ cloud, proxy, motoEndpoint: options.motoEndpoint, clientConfig, log }));
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { endpoint: proxy.url, cloud, sshConfigPath: cloud.sshConfigPath, proxy, sync, databases, balancing, planes, stop };
}
