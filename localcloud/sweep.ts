/**
 * Teardown and the leftovers check. The sweep works only from what the state
 * directory recorded (PIDs with start times, machine names, the namespace), so it
 * cleans up after a killed run as well as after a normal one; it never looks
 * processes up by name.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNamespace, hasGuardRoute, cloudNamespaces } from './network.js';
import { isAlive, processStartTime, run, signal, stopProcess, tryRun, waitFor, type ProcessRef } from './proc.js';

/** The cgroup (relative to a hierarchy's root) of one machine's wrapper, nspawn and payload. */
export function cgroupPath(cloudName: string, machineName: string): string {
  return join('localcloud', cloudName, machineName);
}

const HIERARCHIES = ['unified', 'systemd'];

function cloudNameOf(stateDir: string): string {
  return stateDir.split('/').filter(Boolean).pop() as string;
}

/**
 * Mount points at or below `dir`, deepest first. The kernel records a mount at
 * its resolved path: through a symlinked state or cache directory, `dir` as
 * given would match nothing and the mounts would outlive their machines.
 */
export function mountsUnder(dir: string): string[] {
  const roots = [dir];
  try {
    const real = realpathSync(dir);
    if (real !== dir) roots.push(real);
  } catch {
    // Gone already: only mounts recorded under the path as given can remain.
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => roots.some((root) => p === root || p.startsWith(`${root}/`)));
  return mounts.sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir` (lazily if busy). */
export async function unmountUnder(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) if (!(await tryRun('umount', [m]))) await tryRun('umount', ['-l', m]);
}

function cgroupProcs(cloudName: string): number[] {
  const pids: number[] = [];
  for (const h of HIERARCHIES) {
    const root = join('/sys/fs/cgroup', h, 'localcloud', cloudName);
    const walk = (d: string): void => {
      if (!existsSync(d)) return;
      try {
        for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.push(Number(p));
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      } catch { /* removed meanwhile */ }
    };
    walk(root);
  }
  return [...new Set(pids)];
}

interface Recorded {
  readonly machines: { name: string; dir: string; wrapper?: ProcessRef }[];
  readonly relays: ProcessRef[];
}

function recorded(stateDir: string): Recorded {
  const machines: Recorded['machines'] = [];
  const dir = join(stateDir, 'machines');
  if (existsSync(dir)) {
    for (const id of readdirSync(dir)) {
      const f = join(dir, id, 'machine.json');
      if (existsSync(f)) machines.push(JSON.parse(readFileSync(f, 'utf8')) as Recorded['machines'][number]);
    }
  }
  const relays: ProcessRef[] = [];
  const cloud = join(stateDir, 'cloud.json');
  if (existsSync(cloud)) {
    const apt = (JSON.parse(readFileSync(cloud, 'utf8')) as { apt?: { proxy: ProcessRef; relay: ProcessRef } }).apt;
    if (apt) relays.push(apt.proxy, apt.relay);
  }
  return { machines, relays };
}

/** The running nspawn of a machine (the wrapper records its PID in DIR/nspawn.pid), if any. */
export function nspawnOf(machineDir: string): ProcessRef | undefined {
  const file = join(machineDir, 'nspawn.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  const startTime = processStartTime(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/**
 * Removes everything a cloud made (a running one or what a killed run left):
 * machines get one SIGTERM each (orderly poweroff) and are killed if they do not
 * stop; then relays, mounts, nspawn's /run entries, cgroups, the namespace, the
 * guard route (when no other cloud namespace is left) and the state directory.
 */
export async function sweepCloud(stateDir: string, netns: string): Promise<void> {
  const name = cloudNameOf(stateDir);
  const { machines, relays } = recorded(stateDir);
  const running = machines.filter((m) => isAlive(m.wrapper));
  for (const m of running) {
    writeFileSync(join(m.dir, 'stop'), '');
    const nspawn = nspawnOf(m.dir);
    if (!signal(nspawn, 'SIGTERM')) signal(m.wrapper, 'SIGTERM');
  }
  try {
    await waitFor('machines to power off', () => running.every((m) => !isAlive(m.wrapper)), 30_000, 50);
  } catch {
    for (const m of running) { signal(nspawnOf(m.dir), 'SIGKILL'); signal(m.wrapper, 'SIGKILL'); }
  }
  for (const r of relays) await stopProcess(r);
  // Whatever else runs in the namespace (a killed harness's waits, ssh relays of open sessions) goes too.
  for (const pid of namespaceProcs(netns)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  await waitFor('the namespace\'s processes to exit', () => namespaceProcs(netns).length === 0, 5_000, 50).catch(() => undefined);
  // Whatever is still in our cgroups was started by a machine we recorded.
  for (const pid of cgroupProcs(name)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  await waitFor('cgroups to empty', () => cgroupProcs(name).length === 0, 10_000, 50).catch(() => undefined);
  await unmountUnder(stateDir);
  for (const m of machines) {
    await tryRun('rmdir', [`/run/systemd/nspawn/propagate/${m.name}`]);
  }
  for (const h of HIERARCHIES) {
    const d = join('/sys/fs/cgroup', h, 'localcloud', name);
    if (existsSync(d)) await tryRun('find', [d, '-depth', '-type', 'd', '-delete']);
    await tryRun('rmdir', [join('/sys/fs/cgroup', h, 'localcloud')]); // only if no other cloud uses it
  }
  await deleteNamespace(netns);
  if (mountsUnder(stateDir).length === 0) rmSync(stateDir, { recursive: true, force: true });
}

/** PIDs whose network namespace is the cloud's (`/run/netns/<netns>`), by the namespace's inode. */
export function namespaceProcs(netns: string): number[] {
  let inode: number;
  try {
    inode = statSync(`/run/netns/${netns}`).ino;
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/net`) === `net:[${String(inode)}]`) pids.push(Number(p));
    } catch { /* exited */ }
  }
  return pids;
}

/** What a cloud left behind (empty when clean): namespace, mounts, cgroups, processes, links, route, nspawn entries. */
export async function leftovers(stateDir: string, netns: string, name: string): Promise<string[]> {
  const left: string[] = [];
  if (existsSync(`/run/netns/${netns}`)) left.push(`netns ${netns}`);
  for (const pid of namespaceProcs(netns)) left.push(`process ${String(pid)} in netns ${netns}`);
  for (const m of mountsUnder(stateDir)) left.push(`mount ${m}`);
  for (const h of HIERARCHIES) {
    const d = join('/sys/fs/cgroup', h, 'localcloud', name);
    if (existsSync(d)) left.push(`cgroup ${d}`);
  }
  for (const pid of cgroupProcs(name)) left.push(`process ${String(pid)}`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(`${stateDir}/`) || cmd.includes(`/run/netns/${netns}\0`)) left.push(`process ${pid}: ${cmd.replaceAll('\0', ' ').trim()}`);
    } catch { /* exited */ }
  }
  const links = await run('ip', ['-o', 'link']);
  for (const l of links.split('\n')) if (/^\d+: (vb-|lcbr)/.test(l)) left.push(`link ${l.split(':')[1]?.trim() ?? ''}`);
  if (cloudNamespaces().length === 0 && (await hasGuardRoute())) left.push('guard route prohibit 172.31.0.0/16');
  const propagate = '/run/systemd/nspawn/propagate';
  if (existsSync(propagate)) for (const e of readdirSync(propagate)) if (e.startsWith(`${name}-`)) left.push(`${propagate}/${e}`);
  if (existsSync(stateDir)) left.push(`state ${stateDir}`);
  return left;
}
