/**
 * The machine layer of the local cloud: EC2 instances as Debian 12 machines with
 * systemd as PID 1 (systemd-nspawn --boot), each an overlay clone of the cached
 * base root (or of an image layer over it), all on one bridge inside one sealed
 * network namespace. Every piece of state lives in files under the state
 * directory, so another process can attach to a running cloud ({@link attachCloud})
 * and the next start sweeps what a killed run left ({@link sweepCloud}).
 *
 * @example
 * ```ts
 * const cloud = await startCloud({ name: 'lct' });
 * const a = await cloud.launchMachine({ instanceId: 'i-0a', privateIp: '172.31.5.9',
 *   publicDnsName: 'ec2-54-1-2-3.compute-1.amazonaws.com', authorizedKey: pub });
 * // ssh -F cloud.sshConfigPath ec2-54-1-2-3.compute-1.amazonaws.com true
 * await cloud.shutdown();
 * ```
 */
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  GATEWAY, LCNET, PYTHON, archiveHosts, createNamespace, inNamespace, startAptPath, type AptPath,
} from './network.js';
import { LocalCloudError, isAlive, run, signal, spawnDetached, tryRun, waitFor, type ProcessRef } from './proc.js';
import { sweepCloud, leftovers, cgroupPath, nspawnOf, unmountUnder } from './sweep.js';

export { sweepCloud, leftovers } from './sweep.js';
export { LocalCloudError } from './proc.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUN_MACHINE = join(REPO, 'localcloud', 'run-machine.sh');
const BUILD_BASE = join(REPO, 'localcloud', 'build-base.sh');
/** Bump when build-base.sh changes: a new base is built beside the old one. */
export const BASE_VERSION = 1;
/** Default cache: base roots and the state of running clouds (git-ignored). */
export const DEFAULT_CACHE_DIR = join(REPO, '.cache', 'localcloud');

/** Options of {@link startCloud} and {@link attachCloud}. */
export interface CloudOptions {
  /** Short name (1–4 lower-case letters/digits): the namespace is `lc-<name>`, machines `<name>-<n>`. Default `lc`. */
  readonly name?: string;
  /** Where base roots and run state live. Default `.cache/localcloud`. */
  readonly cacheDir?: string;
  /** Login user of the base image (`ubuntu` like Ubuntu AMIs, `admin` like Debian's). Default `ubuntu`. */
  readonly user?: string;
  /** Private key the ssh_config logs in with (matches the machines' authorized key). */
  readonly identityFile?: string;
  /** Added one-way delay of the ssh ProxyCommand relay, per direction (a latency model; no tc netem here). */
  readonly delayMs?: number;
  /**
   * Host directories every machine sees read-only (`--bind-ro`), e.g. the tests' git fixture at the
   * path their `git_repo` names: what a real instance would fetch over the internet.
   */
  readonly binds?: readonly { readonly source: string; readonly target: string }[];
}

/** What {@link Cloud.launchMachine} needs: what RunInstances and moto decided. */
export interface MachineSpec {
  readonly instanceId: string;
  /** 172.31.x.y */
  readonly privateIp: string;
  /** The public DNS name the ssh_config maps to the machine. Default: its private DNS name. */
  readonly publicDnsName?: string;
  /** OpenSSH public key line for the login user (the key pair's). */
  readonly authorizedKey: string;
  /** User data, run once per instance id at first boot (a script starting with `#!`). */
  readonly userData?: string;
  /** Image made by {@link Cloud.createImage}; default the base root. */
  readonly imageId?: string;
  /** Extra read-only layers over the base root, top first (e.g. the cached PostgreSQL layer); not with `imageId`. */
  readonly layers?: readonly string[];
  /**
   * Resolve when the login user logs in with the ssh_config's key (default), or
   * already when sshd answers (false: the key is not the harness's, e.g. a key pair
   * whose private key only its owner has).
   */
  readonly waitForLogin?: boolean;
}

/** A machine as recorded in its state directory. */
export interface MachineRecord extends Required<Omit<MachineSpec, 'userData' | 'imageId' | 'authorizedKey' | 'layers' | 'waitForLogin'>> {
  /** nspawn machine name, short enough for `vb-<name>` (15 characters). */
  readonly name: string;
  readonly hostname: string;
  readonly privateDnsName: string;
  readonly imageId?: string;
  /** Overlay lower dirs, top first. */
  readonly lowerDirs: readonly string[];
  readonly dir: string;
  /** The mounted root, as the host sees it. */
  readonly root: string;
  readonly waitForLogin?: boolean;
  wrapper?: ProcessRef;
}

/** Running (the wrapper and nspawn are up) or stopped (powered off, from inside or by {@link Cloud.stopMachine}). */
export type MachineState = 'running' | 'stopped';

/** A running local cloud. */
export interface Cloud {
  readonly name: string;
  /** The network namespace all machines live in (`/run/netns/<netns>`). */
  readonly netns: string;
  readonly stateDir: string;
  /** OpenSSH client config: `Host <public DNS name> <private DNS name>` → the machine, through the namespace. */
  readonly sshConfigPath: string;
  readonly user: string;
  /** Boots a machine and resolves when SSH answers. */
  launchMachine(spec: MachineSpec): Promise<MachineRecord>;
  /** Orderly poweroff (one SIGTERM to nspawn), then unmounts; the upper dir is kept. Already stopped: cleans up. */
  stopMachine(instanceId: string): Promise<void>;
  /** Boots a stopped machine again and resolves when SSH answers. */
  startMachine(instanceId: string): Promise<void>;
  /** Reboots the machine's OS (as `reboot` inside it does) and resolves when SSH answers again. */
  rebootMachine(instanceId: string): Promise<void>;
  /** Stops and removes the machine, its layer and its name. */
  terminateMachine(instanceId: string): Promise<void>;
  machineState(instanceId: string): MachineState;
  /** Resolves when the machine has stopped (e.g. `poweroff` inside it). */
  waitForStopped(instanceId: string, timeoutMs?: number): Promise<void>;
  machine(instanceId: string): MachineRecord | undefined;
  machines(): MachineRecord[];
  /**
   * CreateImage: records a machine's filesystem as a new image layer (syspreped).
   * The machine must be stopped unless `live` (then the layer is copied while it
   * runs, after a sync: files being written may be inconsistent, as on AWS).
   */
  createImage(instanceId: string, imageId: string, options?: { readonly live?: boolean }): Promise<void>;
  /** Whether an image layer exists. */
  hasImage(imageId: string): boolean;
  /** Extra names in every machine's /etc/hosts (e.g. an RDS endpoint → its machine's address); replaces a name's address. */
  addHosts(entries: Readonly<Record<string, string>>): void;
  /** Removes names added with {@link Cloud.addHosts}. */
  removeHosts(names: readonly string[]): void;
  /** Deletes an image layer; refuses while a machine boots from it. Already gone: false. */
  deleteImage(imageId: string): Promise<boolean>;
  /** Runs a command inside the cloud namespace (probes from the "VPC"), returning stdout. */
  execInNamespace(command: readonly string[]): Promise<string>;
  /** Stops every machine and relay, removes the namespace, mounts, cgroups and state; throws if anything is left. */
  shutdown(): Promise<void>;
}

interface CloudRecord {
  readonly name: string;
  readonly netns: string;
  readonly user: string;
  readonly base: string;
  readonly identityFile?: string;
  readonly delayMs?: number;
  readonly binds?: readonly { readonly source: string; readonly target: string }[];
  readonly apt: AptPath;
  nextMachine: number;
}

/** Whether the local cloud can run here, and if not why (synchronous, for `it.skipIf`). */
export function canRunLocalCloud(): { ok: boolean; reason?: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the local cloud needs root (namespaces, mounts, nspawn)' };
  for (const tool of ['/usr/bin/systemd-nspawn', '/usr/sbin/debootstrap', '/usr/bin/nsenter', PYTHON]) {
    if (!existsSync(tool)) return { ok: false, reason: `${tool} is missing (scripts/setup.sh installs it)` };
  }
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return { ok: false, reason: 'no overlayfs' };
  return { ok: true };
}

/** The cached base root for a login user; built (about a minute, debootstrap) when missing. */
export async function ensureBase(cacheDir = DEFAULT_CACHE_DIR, user = 'ubuntu'): Promise<string> {
  const base = join(cacheDir, `base-${user}-v${String(BASE_VERSION)}`);
  if (!existsSync(base)) await run('bash', [BUILD_BASE, base, user]);
  return base;
}

function validateName(name: string): void {
  if (!/^[a-z][a-z0-9]{0,3}$/.test(name)) throw new LocalCloudError(`cloud name ${name}: use 1-4 lower-case letters or digits`);
}

function stateDirOf(cacheDir: string, name: string): string {
  return join(cacheDir, 'run', name);
}

/**
 * Starts a cloud: sweeps what a killed run of the same name left, makes sure the
 * base root exists, creates the namespace, the guard route and the apt path.
 */
export async function startCloud(options: CloudOptions = {}): Promise<Cloud> {
  const name = options.name ?? 'lc';
  validateName(name);
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const user = options.user ?? 'ubuntu';
  const stateDir = stateDirOf(cacheDir, name);
  await sweepCloud(stateDir, `lc-${name}`);
  const base = await ensureBase(cacheDir, user);
  const netns = `lc-${name}`;
  mkdirSync(join(stateDir, 'machines'), { recursive: true });
  mkdirSync(join(stateDir, 'images'), { recursive: true });
  // Written first: if anything below fails, the sweep still finds the namespace.
  writeFileSync(join(stateDir, 'netns'), netns);
  try {
    await createNamespace(netns);
    const apt = await startAptPath(netns, stateDir, archiveHosts());
    const record: CloudRecord = {
      name, netns, user, base, apt, nextMachine: 1,
      ...(options.identityFile !== undefined ? { identityFile: resolve(options.identityFile) } : {}),
      ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
      ...(options.binds !== undefined ? { binds: options.binds.map((b) => ({ source: resolve(b.source), target: b.target })) } : {}),
    };
    writeJson(join(stateDir, 'cloud.json'), record);
  } catch (error) {
    await sweepCloud(stateDir, netns);
    throw error;
  }
  return attachCloud(options);
}

/** Attaches to a cloud another process started (state files only). */
export function attachCloud(options: CloudOptions = {}): Cloud {
  const name = options.name ?? 'lc';
  validateName(name);
  const stateDir = stateDirOf(options.cacheDir ?? DEFAULT_CACHE_DIR, name);
  const cloudFile = join(stateDir, 'cloud.json');
  if (!existsSync(cloudFile)) throw new LocalCloudError(`no local cloud ${name} is running: start it with localcloud/cli.ts up`);
  const cloud = readJson<CloudRecord>(cloudFile);
  const sshConfigPath = join(stateDir, 'ssh_config');
  const machinesDir = join(stateDir, 'machines');
  const imagesDir = join(stateDir, 'images');
  const ns = inNamespace(cloud.netns);

  const machineFile = (id: string): string => join(machinesDir, id, 'machine.json');
  const get = (id: string): MachineRecord | undefined =>
    existsSync(machineFile(id)) ? readJson<MachineRecord>(machineFile(id)) : undefined;
  const must = (id: string): MachineRecord => {
    const m = get(id);
    if (!m) throw new LocalCloudError(`no machine ${id} in local cloud ${name}`);
    return m;
  };
  const all = (): MachineRecord[] =>
    existsSync(machinesDir) ? readdirSync(machinesDir).map(get).filter((m): m is MachineRecord => m !== undefined) : [];
  const nspawnPid = (m: MachineRecord): ProcessRef | undefined => (isAlive(m.wrapper) ? nspawnOf(m.dir) : undefined);
  const state = (id: string): MachineState => (isAlive(must(id).wrapper) ? 'running' : 'stopped');
  const exitsCount = (m: MachineRecord): number =>
    existsSync(join(m.dir, 'exits')) ? readFileSync(join(m.dir, 'exits'), 'utf8').trim().split('\n').length : 0;

  /** Names added with addHosts (an RDS endpoint, …) → their addresses. */
  const extraHostsFile = join(stateDir, 'hosts.json');
  const extraHosts = (): Record<string, string> => (existsSync(extraHostsFile) ? readJson<Record<string, string>>(extraHostsFile) : {});
  /** /etc/hosts of every mounted machine and the ssh_config follow the set of machines. */
  const publish = (): void => {
    const machines = all();
    const hosts = ['127.0.0.1 localhost', ...machines.map((m) => `${m.privateIp} ${m.privateDnsName} ${m.hostname}`),
      ...Object.entries(extraHosts()).map(([host, address]) => `${address} ${host}`)].join('\n') + '\n';
    for (const m of machines) if (existsSync(join(m.root, 'etc'))) writeFileSync(join(m.root, 'etc', 'hosts'), hosts);
    const proxy = [...ns, PYTHON, LCNET, 'stdio', '%h', '%p', ...(cloud.delayMs ? ['--delay-ms', String(cloud.delayMs)] : [])];
    const lines = machines.flatMap((m) => [`Host ${m.publicDnsName} ${m.privateDnsName}`, `    HostName ${m.privateIp}`]);
    lines.push(
      'Host *.amazonaws.com *.ec2.internal 172.31.*',
      `    User ${cloud.user}`,
      ...(cloud.identityFile ? [`    IdentityFile ${cloud.identityFile}`, '    IdentitiesOnly yes'] : []),
      // Every machine makes its own host keys at first boot; names are reused across runs.
      '    StrictHostKeyChecking no',
      '    UserKnownHostsFile /dev/null',
      '    LogLevel ERROR',
      `    ProxyCommand ${proxy.join(' ')}`,
    );
    writeFileSync(sshConfigPath, lines.join('\n') + '\n');
  };
  // The ssh_config exists from the start: a tool checks the file before any machine runs.
  if (!existsSync(sshConfigPath)) publish();

  const mountRoot = async (m: MachineRecord): Promise<void> => {
    mkdirSync(m.root, { recursive: true });
    const lower = m.lowerDirs.join(':');
    await run('mount', ['-t', 'overlay', `lc-${m.name}`, '-o', `lowerdir=${lower},upperdir=${m.dir}/upper,workdir=${m.dir}/work`, m.root]);
  };

  const boot = async (m: MachineRecord): Promise<void> => {
    rmSync(join(m.dir, 'stop'), { force: true });
    const binds = (cloud.binds ?? []).map((b) => `--bind-ro=${b.source}:${b.target}`);
    m.wrapper = spawnDetached('bash', [RUN_MACHINE, m.name, m.root, m.dir, cloud.netns, cgroupPath(name, m.name), ...binds], join(m.dir, 'wrapper.log'));
    writeJson(machineFile(m.instanceId), m);
    await waitForSsh(m);
  };

  const waitForSsh = async (m: MachineRecord, timeoutMs = 60_000): Promise<void> => {
    await run(ns[0] as string, [...ns.slice(1), PYTHON, LCNET, 'waitbanner', m.privateIp, '22', '--timeout', String(timeoutMs / 1000)]);
    if (m.waitForLogin === false) return;
    await waitFor(`ssh ${m.publicDnsName} true`, async () => {
      if (!isAlive(m.wrapper)) throw new LocalCloudError(`machine ${m.instanceId} exited while booting: see ${m.dir}/console.log`);
      const r = await execa('ssh', ['-F', sshConfigPath, '-o', 'ConnectTimeout=5', '-o', 'BatchMode=yes', m.publicDnsName, 'true'], { reject: false });
      return r.exitCode === 0;
    }, timeoutMs, 200);
  };

  const stop = async (id: string): Promise<void> => {
    const m = must(id);
    if (isAlive(m.wrapper)) {
      writeFileSync(join(m.dir, 'stop'), '');
      // Exactly one SIGTERM: nspawn turns it into an orderly poweroff; a second one SIGKILLs the machine.
      const nspawn = nspawnPid(m);
      if (nspawn) signal(nspawn, 'SIGTERM');
      else signal(m.wrapper, 'SIGTERM');
      await waitFor(`machine ${id} to power off`, () => !isAlive(m.wrapper), 30_000, 50);
    }
    await unmountUnder(m.dir);
    await tryRun('rmdir', [`/run/systemd/nspawn/propagate/${m.name}`]);
    for (const h of ['unified', 'systemd']) {
      await tryRun('find', [join('/sys/fs/cgroup', h, cgroupPath(name, m.name)), '-depth', '-type', 'd', '-delete']);
    }
  };

  const api: Cloud = {
    name,
    netns: cloud.netns,
    stateDir,
    sshConfigPath,
    user: cloud.user,

    async launchMachine(spec) {
      if (!/^172\.31\.\d{1,3}\.\d{1,3}$/.test(spec.privateIp)) throw new LocalCloudError(`private IP ${spec.privateIp} is not in 172.31.0.0/16`);
      if (!/^i-[0-9a-z]+$/.test(spec.instanceId)) throw new LocalCloudError(`instance id ${spec.instanceId} is not like i-0123abcd`);
      if (get(spec.instanceId)) throw new LocalCloudError(`machine ${spec.instanceId} exists`);
      const fresh = readJson<CloudRecord>(cloudFile);
      const n = fresh.nextMachine;
      fresh.nextMachine = n + 1;
      writeJson(cloudFile, fresh);
      const hostname = `ip-${spec.privateIp.replaceAll('.', '-')}`;
      const dir = join(machinesDir, spec.instanceId);
      let lowerDirs: readonly string[] = [...(spec.layers ?? []), cloud.base];
      if (spec.imageId !== undefined) {
        const image = join(imagesDir, spec.imageId, 'image.json');
        if (!existsSync(image)) throw new LocalCloudError(`no image ${spec.imageId} in local cloud ${name}`);
        lowerDirs = readJson<{ lowerDirs: string[] }>(image).lowerDirs;
      }
      const m: MachineRecord = {
        instanceId: spec.instanceId, privateIp: spec.privateIp, name: `${name}-${String(n)}`, hostname,
        privateDnsName: `${hostname}.ec2.internal`, publicDnsName: spec.publicDnsName ?? `${hostname}.ec2.internal`,
        lowerDirs, dir, root: join(dir, 'root'),
        ...(spec.imageId !== undefined ? { imageId: spec.imageId } : {}),
        ...(spec.waitForLogin === false ? { waitForLogin: false } : {}),
      };
      mkdirSync(join(dir, 'upper'), { recursive: true });
      mkdirSync(join(dir, 'work'), { recursive: true });
      writeJson(machineFile(m.instanceId), m);
      await mountRoot(m);
      // What EC2's metadata service and cloud-init give an instance.
      const r = m.root;
      writeFileSync(join(r, 'etc/hostname'), `${hostname}\n`);
      writeFileSync(join(r, 'etc/systemd/network/10-host0.network'),
        `[Match]\nName=host0\n[Network]\nAddress=${spec.privateIp}/16\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);
      writeFileSync(join(r, 'etc/localcloud/instance-id'), `${spec.instanceId}\n`);
      rmSync(join(r, 'etc/localcloud/user-data'), { force: true });
      if (spec.userData !== undefined) writeFileSync(join(r, 'etc/localcloud/user-data'), spec.userData, { mode: 0o755 });
      const [uid, gid] = loginIds(r, cloud.user);
      const ssh = join(r, 'home', cloud.user, '.ssh');
      writeFileSync(join(ssh, 'authorized_keys'), spec.authorizedKey.trim() + '\n', { mode: 0o600 });
      chmodSync(join(ssh, 'authorized_keys'), 0o600);
      chownSync(join(ssh, 'authorized_keys'), uid, gid);
      await makeHostKeys(r, hostname);
      publish();
      await boot(m);
      return m;
    },

    stopMachine: stop,

    async startMachine(id) {
      const m = must(id);
      if (isAlive(m.wrapper)) return;
      await stop(id); // cleans up after a poweroff from inside
      await mountRoot(m);
      publish();
      await boot(m);
    },

    async rebootMachine(id) {
      const m = must(id);
      const nspawn = nspawnPid(m);
      if (!nspawn) throw new LocalCloudError(`machine ${id} is not running`);
      const before = exitsCount(m);
      // SIGINT to the machine's PID 1 is ctrl-alt-del: systemd reboots, nspawn exits 133, the wrapper boots it again.
      const children = readFileSync(`/proc/${String(nspawn.pid)}/task/${String(nspawn.pid)}/children`, 'utf8').trim().split(/\s+/);
      const init = Number(children[0]);
      if (!init) throw new LocalCloudError(`machine ${id} has no init process`);
      process.kill(init, 'SIGINT');
      await waitFor(`machine ${id} to reboot`, () => exitsCount(m) > before && nspawnPid(m) !== undefined, 60_000, 50);
      await waitForSsh(m);
    },

    async terminateMachine(id) {
      const m = get(id);
      if (!m) return;
      await stop(id);
      rmSync(m.dir, { recursive: true, force: true });
      publish();
    },

    machineState: state,

    async waitForStopped(id, timeoutMs = 30_000) {
      await waitFor(`machine ${id} to stop`, () => state(id) === 'stopped', timeoutMs, 50);
    },

    machine: get,
    machines: all,

    async createImage(id, imageId, options = {}) {
      const m = must(id);
      if (options.live === true) {
        // The machines share the host's kernel and page cache: syncing the overlay's
        // filesystem is what `sync` inside the machine does.
        await run('sync', ['-f', m.root]);
      } else if (isAlive(m.wrapper)) throw new LocalCloudError(`machine ${id} is running: stop it before CreateImage (a live upper dir is not consistent)`);
      if (!/^ami-[0-9a-z]+$/.test(imageId)) throw new LocalCloudError(`image id ${imageId} is not like ami-0123abcd`);
      const dir = join(imagesDir, imageId);
      if (existsSync(dir)) throw new LocalCloudError(`image ${imageId} exists`);
      mkdirSync(dir);
      const layer = join(dir, 'layer');
      // cp -a keeps overlay whiteouts (character devices) and trusted.overlay.* xattrs.
      await run('cp', ['-a', join(m.dir, 'upper'), layer]);
      writeFileSync(join(layer, 'etc/machine-id'), '');
      // No package lists in an image (size), and no stamp claiming a fresh apt-get update either:
      // an install on an instance from it must update first (the base's lists dir is dated 1970).
      for (const p of ['var/log/journal', 'var/lib/apt/lists', 'var/cache/apt/archives', 'var/lib/apt/periodic/update-success-stamp']) {
        rmSync(join(layer, p), { recursive: true, force: true });
      }
      const sshDir = join(layer, 'etc/ssh');
      if (existsSync(sshDir)) for (const f of readdirSync(sshDir)) if (f.startsWith('ssh_host_')) rmSync(join(sshDir, f));
      rmSync(join(layer, 'etc/localcloud/instance-id'), { force: true });
      rmSync(join(layer, 'etc/localcloud/user-data'), { force: true });
      writeJson(join(dir, 'image.json'), { imageId, source: id, lowerDirs: [layer, ...m.lowerDirs] });
    },

    async deleteImage(imageId) {
      const dir = join(imagesDir, imageId);
      if (!existsSync(dir)) return false;
      const layer = join(dir, 'layer');
      const users = all().filter((m) => m.lowerDirs.includes(layer)).map((m) => m.instanceId);
      if (users.length > 0) throw new LocalCloudError(`image ${imageId} is the root of ${users.join(', ')}: terminate them first`);
      rmSync(dir, { recursive: true, force: true });
      return true;
    },

    hasImage(imageId) {
      return existsSync(join(imagesDir, imageId, 'image.json'));
    },

    addHosts(entries) {
      writeJson(extraHostsFile, { ...extraHosts(), ...entries });
      publish();
    },

    removeHosts(names) {
      const kept = Object.fromEntries(Object.entries(extraHosts()).filter(([host]) => !names.includes(host)));
      writeJson(extraHostsFile, kept);
      publish();
    },

    async execInNamespace(command) {
      return run(ns[0] as string, [...ns.slice(1), ...command]);
    },

    async shutdown() {
      await sweepCloud(stateDir, cloud.netns);
      const left = await leftovers(stateDir, cloud.netns, name);
      if (left.length > 0) throw new LocalCloudError(`local cloud ${name} left: ${left.join('; ')}`);
    },
  };
  return api;
}

/**
 * Gives a fresh clone its own SSH host keys (ed25519, ecdsa) before it boots. The
 * image's lc-hostkeys unit (`ssh-keygen -A`) then has nothing to do: its RSA 3072
 * key costs about 0.9 s of CPU per machine, which made ten machines booting at once
 * on two cores miss the 5 s goal. sshd skips the missing RSA key.
 */
async function makeHostKeys(root: string, hostname: string): Promise<void> {
  const dir = join(root, 'etc/ssh');
  for (const type of ['ed25519', 'ecdsa']) {
    const file = join(dir, `ssh_host_${type}_key`);
    if (!existsSync(file)) await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `root@${hostname}`, '-f', file]);
  }
}

function loginIds(root: string, user: string): [number, number] {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  const fields = line?.split(':');
  if (!fields) throw new LocalCloudError(`the image has no user ${user}`);
  return [Number(fields[2]), Number(fields[3])];
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 2));
  cpSync(`${file}.tmp`, file);
  rmSync(`${file}.tmp`);
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

export { GATEWAY };
