/**
 * The cloud's sealed network: one network namespace with a bridge and no route
 * off the machine, a `prohibit` guard route in the host's namespace, and the apt
 * path (a forwarder inside the namespace → a unix socket → an allow-listed HTTP
 * proxy in the host namespace that reaches only the host's own Debian archive).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, spawnDetached, tryRun, waitFor, type ProcessRef } from './proc.js';

/** The VPC's range: it exists only inside the cloud namespace. */
export const VPC_CIDR = '172.31.0.0/16';
/** The bridge's address inside the namespace, where the apt proxy listens. */
export const GATEWAY = '172.31.0.1';
export const APT_PROXY_PORT = 3142;
export const BRIDGE = 'lcbr0';
/** Prefix of every cloud namespace (the guard route is shared by all of them). */
export const NETNS_PREFIX = 'lc-';
/** The relay: stdlib Python, run with the system interpreter (the `python3` on PATH may be a pyenv shim). */
export const LCNET = fileURLToPath(new URL('./lcnet.py', import.meta.url));
export const PYTHON = '/usr/bin/python3';

/** The command prefix that runs a program inside the cloud namespace (not `ip netns exec`: it hides /sys/fs/cgroup). */
export function inNamespace(netns: string): string[] {
  return ['nsenter', `--net=/run/netns/${netns}`];
}

/** The relays of a running cloud's apt path. */
export interface AptPath {
  readonly proxy: ProcessRef;
  readonly relay: ProcessRef;
}

/** The hosts of the host's own apt sources (one-line and deb822 formats): the only hosts machines may fetch from. */
export function archiveHosts(aptDir = '/etc/apt'): string[] {
  const files: string[] = [];
  if (existsSync(join(aptDir, 'sources.list'))) files.push(join(aptDir, 'sources.list'));
  const dir = join(aptDir, 'sources.list.d');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)) if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join(dir, f));
  }
  const hosts = new Set<string>();
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim().startsWith('#')) continue;
      for (const m of line.matchAll(/\bhttps?:\/\/([^/\s:]+)/g)) if (m[1]) hosts.add(m[1]);
    }
  }
  return [...hosts].sort();
}

/** Whether the host namespace's guard route is present. */
export async function hasGuardRoute(): Promise<boolean> {
  return (await run('ip', ['route', 'show', 'type', 'prohibit'])).includes(VPC_CIDR);
}

/** The cloud namespaces present on this machine (`/run/netns/lc-*`). */
export function cloudNamespaces(): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').filter((n) => n.startsWith(NETNS_PREFIX));
}

/**
 * Creates the namespace (lo and the bridge only: no uplink, no default route) and
 * the guard route: a stray connect to 172.31.x.x from the host namespace then fails
 * locally instead of leaving the machine.
 */
export async function createNamespace(netns: string): Promise<void> {
  if (!(await hasGuardRoute())) await run('ip', ['route', 'add', 'prohibit', VPC_CIDR]);
  await run('ip', ['netns', 'add', netns]);
  const ns = inNamespace(netns);
  const steps = [
    ['ip', 'link', 'set', 'lo', 'up'],
    ['ip', 'link', 'add', BRIDGE, 'type', 'bridge'],
    ['ip', 'addr', 'add', `${GATEWAY}/16`, 'dev', BRIDGE],
    ['ip', 'link', 'set', BRIDGE, 'up'],
  ];
  for (const step of steps) await run(ns[0] as string, [...ns.slice(1), ...step]);
}

/** Starts the apt path: proxy (host namespace, unix socket, allow-listed) and forwarder (inside the namespace). */
export async function startAptPath(netns: string, runDir: string, allow: readonly string[]): Promise<AptPath> {
  const socket = join(runDir, 'apt.sock');
  const proxy = spawnDetached(PYTHON, [LCNET, 'aptproxy', `unix:${socket}`, '--allow', allow.join(',')], join(runDir, 'aptproxy.log'));
  await waitFor('the apt proxy socket', () => existsSync(socket), 10_000, 50);
  const ns = inNamespace(netns);
  const relay = spawnDetached(
    ns[0] as string,
    [...ns.slice(1), PYTHON, LCNET, 'fwd', `tcp:${GATEWAY}:${String(APT_PROXY_PORT)}`, `unix:${socket}`],
    join(runDir, 'aptrelay.log'),
  );
  return { proxy, relay };
}

/** Deletes the namespace, and the guard route when no other cloud namespace needs it. Both may already be gone. */
export async function deleteNamespace(netns: string): Promise<void> {
  if (existsSync(`/run/netns/${netns}`)) await tryRun('ip', ['netns', 'del', netns]);
  if (cloudNamespaces().length === 0 && (await hasGuardRoute())) await tryRun('ip', ['route', 'del', 'prohibit', VPC_CIDR]);
}
