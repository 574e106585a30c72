/**
 * The RDS half of the local cloud: every DB instance moto reports gets a real
 * PostgreSQL, reachable inside the cloud namespace at its endpoint name
 * (moto's `Endpoint.Address`, added to every machine's /etc/hosts) and port, with
 * the master user, password and database argos created it with. It runs in a
 * machine of the cloud (not in moto's EC2 view) booted from the cached PostgreSQL
 * layer ({@link ensurePostgresLayer}, built once by scripts/setup.sh).
 *
 * The credentials are only in the CreateDBInstance / ModifyDBInstance requests,
 * so the proxy hands them over; they never go to disk here (the set-up runs
 * through ssh's stdin). Until PostgreSQL answers, DescribeDBInstances says
 * `creating` (moto says `available` at once), so argos's wait is a real one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import { rewriteFieldAfter, type AwsProxy, type ProxiedRequest, type ProxiedResponse } from './aws-proxy.js';
import { DEFAULT_CACHE_DIR, startCloud, type Cloud } from './cloud.js';
import { LocalCloudError, run, waitFor } from './proc.js';

/** Bump when the layer's recipe changes: a new one is built beside the old one. */
export const POSTGRES_LAYER_VERSION = 1;

/** The cached layer (over the base root of `user`) with Debian's PostgreSQL installed. */
export function postgresLayerPath(cacheDir = DEFAULT_CACHE_DIR, user = 'ubuntu'): string {
  return join(cacheDir, `postgres-${user}-v${String(POSTGRES_LAYER_VERSION)}`);
}

/** Runs a command in a machine as the login user, with the given key, through the cloud's ssh_config. */
async function sshIn(cloud: Cloud, keyFile: string, host: string, command: string, input = ''): Promise<string> {
  const r = await execa('ssh', ['-F', cloud.sshConfigPath, '-i', keyFile, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', host, command],
    { input, reject: false });
  if (r.exitCode !== 0) throw new LocalCloudError(`ssh ${host} ${command.slice(0, 60)} exited ${String(r.exitCode)}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout.trim();
}

/** Makes a key pair for the harness's own logins into its machines; returns [private key file, public key line]. */
export async function makeHarnessKey(dir: string): Promise<[string, string]> {
  const file = join(dir, 'harness_key');
  if (!existsSync(file)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'localcloud-harness', '-f', file]);
  return [file, readFileSync(`${file}.pub`, 'utf8').trim()];
}

/**
 * Builds the PostgreSQL layer when missing: boots a machine of a throw-away cloud
 * from the base root, installs `postgresql` with apt through the cloud's apt proxy,
 * stops it and keeps its (syspreped) upper dir. About a minute, once.
 */
export async function ensurePostgresLayer(options: { cacheDir?: string; user?: string; name?: string; log?: (line: string) => void } = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const user = options.user ?? 'ubuntu';
  const dest = postgresLayerPath(cacheDir, user);
  if (existsSync(dest)) return dest;
  const log = options.log ?? (() => undefined);
  const cloud = await startCloud({ name: options.name ?? 'pgb', cacheDir, user });
  try {
    const [key, pub] = await makeHarnessKey(cloud.stateDir);
    const host = 'ip-172-31-255-2.ec2.internal';
    await cloud.launchMachine({ instanceId: 'i-pgbuild', privateIp: '172.31.255.2', authorizedKey: pub, waitForLogin: false });
    await waitFor('the build machine to log in', async () => sshIn(cloud, key, host, 'true').then(() => true, () => false), 60_000, 200);
    log('installing postgresql in the build machine (apt through the cloud\'s proxy)');
    await sshIn(cloud, key, host,
      'sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null && ls /etc/postgresql');
    await cloud.stopMachine('i-pgbuild');
    await cloud.createImage('i-pgbuild', 'ami-pgbuild');
    rmSync(`${dest}.tmp`, { recursive: true, force: true });
    await run('cp', ['-a', join(cloud.stateDir, 'images', 'ami-pgbuild', 'layer'), `${dest}.tmp`]);
    renameSync(`${dest}.tmp`, dest);
    log(`postgres layer ready: ${dest}`);
  } finally {
    await cloud.shutdown();
  }
  return dest;
}

/** What CreateDBInstance asked for (only the proxy sees the password). */
interface Credentials {
  /** Date.now() before which it stays `creating`: when CreateDBInstance was answered, plus the createMs then. */
  availableAfter: number;
  user: string;
  password: string;
  dbName?: string;
  port: number;
}

/** Options of {@link startDatabases}. */
export interface DatabaseOptions {
  readonly cloud: Cloud;
  readonly proxy: AwsProxy;
  /** An RDS client pointed at moto itself. */
  readonly rds: RDSClient;
  /** The PostgreSQL layer ({@link ensurePostgresLayer}). */
  readonly layer: string;
  /** The harness's own key (authorised on database machines) and its public key line. */
  readonly harnessKey: readonly [string, string];
  readonly intervalMs?: number;
  /**
   * The least time from CreateDBInstance until the database is `available`.
   * RDS takes minutes (a db.t3.micro PostgreSQL typically 5 to 10); the local one
   * answers in seconds, which would hide what argos does while it waits. Default 0:
   * available as soon as PostgreSQL answers.
   */
  readonly createMs?: number;
  readonly log?: (line: string) => void;
}

/** The running database plane. */
export interface Databases {
  /** Sets {@link DatabaseOptions.createMs} for the databases created from now on. */
  setCreateMs(ms: number): void;
  /** Resolves when no database has work queued. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const quoteIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;
const quoteLiteral = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** The machine of a DB instance: not an EC2-shaped id (moto's are hex), so nothing mistakes it for one. */
export function databaseInstanceId(identifier: string): string {
  return `i-rds${createHash('sha256').update(identifier).digest('hex').slice(0, 12)}`;
}

/** Starts the database plane: interceptors on the proxy and a poll of moto's DB instances. */
export function startDatabases(options: DatabaseOptions): Databases {
  const { cloud, proxy, rds, layer } = options;
  const [keyFile, publicKey] = options.harnessKey;
  const log = options.log ?? (() => undefined);
  const credentials = new Map<string, Credentials>();
  /** identifier → endpoint name, for the databases whose PostgreSQL answers. */
  const ready = new Map<string, string>();
  const work = new Map<string, Promise<void>>();
  /** Databases whose PostgreSQL could not be set up: `failed`, as RDS reports one it could not create. */
  const failed = new Set<string>();
  const addresses = new Map<string, string>();
  let nextHost = 10;
  let stopped = false;
  let createMs = options.createMs ?? 0;
  let pass: Promise<void> = Promise.resolve();

  const ok = (response: ProxiedResponse): boolean => response.status >= 200 && response.status < 300;
  const idOf = (request: ProxiedRequest): string => (request.params.get('DBInstanceIdentifier') ?? '').toLowerCase();

  const queue = (id: string, what: string, job: () => Promise<void>): void => {
    const p = (work.get(id) ?? Promise.resolve()).then(job).catch((error: unknown) => {
      log(`database ${id}: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    });
    work.set(id, p);
    void p.finally(() => { if (work.get(id) === p) work.delete(id); });
  };

  /** Addresses from the top of the VPC range, where moto's default subnets (172.31.0.0–95.255) never put an instance. */
  const addressFor = (id: string): string => {
    const known = addresses.get(id);
    if (known) return known;
    const address = `172.31.255.${String(nextHost++)}`;
    addresses.set(id, address);
    return address;
  };

  const create = async (id: string, endpoint: string): Promise<void> => {
    const c = credentials.get(id) as Credentials;
    const began = Date.now();
    const instanceId = databaseInstanceId(id);
    const address = addressFor(id);
    cloud.addHosts({ [endpoint]: address });
    await cloud.launchMachine({
      instanceId, privateIp: address, publicDnsName: endpoint, authorizedKey: publicKey, layers: [layer], waitForLogin: false,
    });
    await waitFor(`database ${id} to log in`, async () => sshIn(cloud, keyFile, endpoint, 'true').then(() => true, () => false), 60_000, 200);
    // RDS's master user is not a superuser (rds_superuser): it can create roles and databases.
    const sql = [
      `CREATE ROLE ${quoteIdent(c.user)} LOGIN CREATEDB CREATEROLE PASSWORD ${quoteLiteral(c.password)};`,
      ...(c.dbName ? [`CREATE DATABASE ${quoteIdent(c.dbName)} OWNER ${quoteIdent(c.user)};`] : []),
    ].join('\n');
    const script = [
      'set -e',
      'conf=$(ls -d /etc/postgresql/*/main | head -n1)',
      `printf "listen_addresses = '*'\\nport = ${String(c.port)}\\n" > "$conf/conf.d/localcloud.conf"`,
      'echo "host all all 172.31.0.0/16 scram-sha-256" >> "$conf/pg_hba.conf"',
      'systemctl restart postgresql',
      `until pg_isready -q -p ${String(c.port)}; do sleep 0.1; done`,
      `runuser -u postgres -- psql -q -p ${String(c.port)} -v ON_ERROR_STOP=1 -f - <<'LOCALCLOUD_SQL'`,
      sql,
      'LOCALCLOUD_SQL',
    ].join('\n') + '\n';
    await sshIn(cloud, keyFile, endpoint, 'sudo sh -s', script);
    const until = c.availableAfter;
    if (until > Date.now()) log(`database ${id}: PostgreSQL answers; \`creating\` for ${((until - Date.now()) / 1000).toFixed(1)} s more (createMs)`);
    // Polled, so that stopping the harness does not wait out the rest.
    while (Date.now() < until && !stopped) await new Promise((resolve) => setTimeout(resolve, 200));
    ready.set(id, endpoint);
    log(`database ${id}: PostgreSQL answers at ${endpoint}:${String(c.port)} (${address}) after ${((Date.now() - began) / 1000).toFixed(1)} s`);
  };

  const changePassword = async (id: string): Promise<void> => {
    const c = credentials.get(id);
    const endpoint = ready.get(id);
    if (!c || !endpoint) return;
    await sshIn(cloud, keyFile, endpoint, `sudo runuser -u postgres -- psql -q -p ${String(c.port)} -v ON_ERROR_STOP=1 -f -`,
      `ALTER ROLE ${quoteIdent(c.user)} PASSWORD ${quoteLiteral(c.password)};\n`);
    log(`database ${id}: master password changed`);
  };

  const remove = async (id: string): Promise<void> => {
    const endpoint = ready.get(id);
    await cloud.terminateMachine(databaseInstanceId(id));
    ready.delete(id);
    failed.delete(id);
    credentials.delete(id);
    if (endpoint) cloud.removeHosts([endpoint]);
    log(`database ${id}: removed`);
  };

  proxy.intercept('rds', 'CreateDBInstance', {
    async after(request, response) {
      if (!ok(response)) return undefined;
      const engine = request.params.get('Engine') ?? '';
      if (!engine.includes('postgres')) { log(`database ${idOf(request)}: engine ${engine}: only PostgreSQL gets a data plane`); return undefined; }
      credentials.set(idOf(request), {
        availableAfter: Date.now() + createMs,
        user: request.params.get('MasterUsername') ?? 'postgres',
        password: request.params.get('MasterUserPassword') ?? '',
        ...(request.params.get('DBName') ? { dbName: request.params.get('DBName') as string } : {}),
        port: Number(request.params.get('Port') ?? '5432'),
      });
      void reconcile();
      return undefined;
    },
  });
  proxy.intercept('rds', 'ModifyDBInstance', {
    async after(request, response) {
      const password = request.params.get('MasterUserPassword');
      const c = credentials.get(idOf(request));
      if (!ok(response) || password === null || !c) return undefined;
      c.password = password;
      queue(idOf(request), 'password change', () => changePassword(idOf(request)));
      return undefined;
    },
  });
  // Until PostgreSQL answers the instance is `creating`, as on AWS.
  proxy.intercept('rds', 'DescribeDBInstances', {
    async after(_request, response) {
      if (!ok(response)) return undefined;
      let body = response.body;
      for (const id of credentials.keys()) {
        if (!ready.has(id)) body = rewriteFieldAfter(body, 'DBInstanceIdentifier', id, 'DBInstanceStatus', failed.has(id) ? 'failed' : 'creating');
      }
      return { ...response, body };
    },
  });

  const reconcileOnce = async (): Promise<void> => {
    const answer = await rds.send(new DescribeDBInstancesCommand({}));
    const present = new Set<string>();
    for (const db of answer.DBInstances ?? []) {
      const id = (db.DBInstanceIdentifier ?? '').toLowerCase();
      if (db.DBInstanceStatus === 'deleting') continue;
      present.add(id);
      const endpoint = db.Endpoint?.Address;
      if (!credentials.has(id) || !endpoint || work.has(id) || ready.has(id) || failed.has(id)) continue;
      if (cloud.machine(databaseInstanceId(id))) continue;
      queue(id, 'create', () => create(id, endpoint).catch((error: unknown) => { failed.add(id); throw error; }));
    }
    for (const id of [...ready.keys(), ...credentials.keys()]) {
      if (!present.has(id) && !work.has(id) && cloud.machine(databaseInstanceId(id))) queue(id, 'delete', () => remove(id));
    }
  };
  const reconcile = (): Promise<void> => {
    pass = pass.then(reconcileOnce).catch((error: unknown) => log(`database poll failed: ${error instanceof Error ? error.message : String(error)}`));
    return pass;
  };
  proxy.intercept('rds', 'DeleteDBInstance', { async after() { void reconcile(); return undefined; } });

  const timer = setInterval(() => { if (!stopped) void reconcile(); }, options.intervalMs ?? 500);
  const idle = async (): Promise<void> => {
    await pass;
    while (work.size > 0) await Promise.all(work.values());
  };
  return {
    setCreateMs(ms) {
      createMs = ms;
    },
    idle,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await idle();
    },
  };
}
