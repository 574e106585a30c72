/**
 * The data plane of the local cloud's classic load balancers (issue 14, point 5):
 * real health checks of the registered machines with each load balancer's own
 * HealthCheck, verdicts in the shape DescribeInstanceHealth returns, and a listener
 * on 127.0.0.1:<port> per load balancer port that forwards only to InService
 * instances, round robin.
 *
 * ```
 * host netns     client -> 127.0.0.1:<local port> (net.Server in this process)
 *                            | unix socket <state>/elb/s<n>.sock
 * netns lc-NAME  elbplane.py (one per cloud): health checks every interval,
 *                            forwards to the next InService 172.31.x.y:<instance port>
 * ```
 * Machine addresses are dialled only from inside the namespace (the network rule):
 * the checker and the backend side of the forwarding are one stdlib-Python process
 * started there with nsenter; this process only opens loopback listeners and unix
 * sockets. The two sides talk through files: `config.json` (this side rewrites it
 * atomically; the plane polls it every 50 ms and acknowledges the generation it
 * applied) and `health.json` (the plane rewrites it on every verdict change).
 *
 * Health semantics are AWS's for classic load balancers
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-healthchecks.html and the
 * API reference's HealthCheck and InstanceState types):
 * - "The load balancer routes requests only to the healthy instances"; it checks every
 *   registered instance every `Interval` seconds, healthy or not.
 * - A newly registered instance is OutOfService (reason ELB, "Instance registration is still in
 *   progress.") until `HealthyThreshold` consecutive successes make it InService.
 * - An InService instance goes OutOfService (reason Instance, "Instance has failed at least the
 *   UnhealthyThreshold number of health checks consecutively.") after `UnhealthyThreshold`
 *   consecutive failures; an OutOfService one with some but not enough successes reads "Instance
 *   has not passed the configured HealthyThreshold number of health checks consecutively."
 * - HTTP/HTTPS: "Any answer other than "200 OK" within the timeout period is considered
 *   unhealthy"; TCP: a connection opened within the timeout is healthy; SSL: a TLS handshake.
 * - "The load balancer stops routing requests to an instance as soon as it is deregistered"
 *   (elb-deregister-register-instances.html): deregistration takes effect when {@link
 *   LoadBalancerPlane.apply} resolves.
 * - No healthy instance: HTTP 503 for HTTP/HTTPS listeners (ELB's "HTTP 503: Service unavailable
 *   ... no registered instances ... healthy"), a closed connection for TCP/SSL ones.
 * Differences, on purpose: AWS routes HTTP listeners by least outstanding requests and TCP ones round
 * robin; here every listener is round robin (predictable in tests). HTTPS/SSL listeners are not
 * terminated: the local port speaks the instance protocol (no certificate on the host side).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cloud } from './cloud.js';
import { PYTHON, inNamespace } from './network.js';
import { LocalCloudError, isAlive, refOf, spawnDetached, stopProcess, waitFor, type ProcessRef } from './proc.js';

export { readLoadBalancerSpecs, renderDescribeInstanceHealth, type LoadBalancerClients } from './elb-moto.js';

const ELBPLANE = fileURLToPath(new URL('./elbplane.py', import.meta.url));

/** A classic load balancer's HealthCheck, as DescribeLoadBalancers reports it. */
export interface HealthCheckSpec {
  /** `HTTP:80/health`, `HTTPS:443/x`, `TCP:22` or `SSL:443`. */
  readonly target: string;
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

/** One listener: the load balancer port (here: a local port) → the instance port. */
export interface ListenerSpec {
  readonly loadBalancerPort: number;
  readonly instancePort: number;
  readonly protocol: string;
}

/** A registered instance and where it is reached inside the cloud namespace. */
export interface BackendInstance {
  readonly instanceId: string;
  /** Private IP in the cloud namespace. */
  readonly address: string;
  /** EC2 state name when known; anything but `running` is OutOfService without a probe ("Instance is in stopped state."). */
  readonly ec2State?: string;
}

/** What the plane needs of one load balancer (what moto says about it). */
export interface LoadBalancerSpec {
  readonly name: string;
  /** The DNS name AWS gives it (`<name>-<n>.<region>.elb.amazonaws.com`), which the name proxy serves. */
  readonly dnsName?: string;
  readonly healthCheck: HealthCheckSpec;
  readonly listeners: readonly ListenerSpec[];
  readonly instances: readonly BackendInstance[];
}

/** One entry of DescribeInstanceHealth's answer. */
export interface InstanceHealthVerdict {
  readonly instanceId: string;
  readonly state: 'InService' | 'OutOfService' | 'Unknown';
  readonly reasonCode: 'ELB' | 'Instance' | 'N/A';
  readonly description: string;
}

/** The running data plane of one cloud's load balancers. */
export interface LoadBalancerPlane {
  /** Creates/updates/removes load balancers to match (called by the sync each tick with what moto says). */
  apply(specs: readonly LoadBalancerSpec[]): Promise<void>;
  /** 127.0.0.1 port of each listener: name → load balancer port → local port (stable while the load balancer exists). */
  localPorts(): ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** What DescribeInstanceHealth returns for that load balancer (empty when the plane does not know it). */
  health(name: string): readonly InstanceHealthVerdict[];
  /** PID of the in-namespace process (for measurements and leftovers checks). */
  readonly pid: number;
  /** Closes the listeners, stops the in-namespace process and removes its files. */
  stop(): Promise<void>;
}

/** The verdict of an instance the plane has not checked yet: what AWS says right after registration. */
export const REGISTERING: Omit<InstanceHealthVerdict, 'instanceId'> = {
  state: 'OutOfService', reasonCode: 'ELB', description: 'Instance registration is still in progress.',
};

/** Parses a health check target (`HTTP:80/health`) or throws saying what is wrong. */
export function parseHealthCheckTarget(target: string): { protocol: 'HTTP' | 'HTTPS' | 'TCP' | 'SSL'; port: number; path?: string } {
  const m = /^(HTTP|HTTPS|TCP|SSL):(\d{1,5})(\/.*)?$/i.exec(target);
  const port = Number(m?.[2]);
  const protocol = m?.[1]?.toUpperCase() as 'HTTP' | 'HTTPS' | 'TCP' | 'SSL' | undefined;
  if (!m || !protocol || port < 1 || port > 65535) {
    throw new LocalCloudError(`health check target ${target}: use PROTOCOL:PORT[/path] with HTTP, HTTPS, TCP or SSL`);
  }
  // AWS: "For HTTP/HTTPS, you must include a ping path"; TCP/SSL take none.
  if ((protocol === 'HTTP' || protocol === 'HTTPS') !== (m[3] !== undefined)) {
    throw new LocalCloudError(`health check target ${target}: HTTP and HTTPS need a ping path, TCP and SSL take none`);
  }
  return { protocol, port, ...(m[3] !== undefined ? { path: m[3] } : {}) };
}

interface PlaneListener {
  readonly socket: string;
  readonly server: Server;
  readonly port: number;
}

interface HealthFile {
  readonly generation: number;
  readonly loadBalancers: Record<string, readonly (InstanceHealthVerdict & { checks: number; changedAt: number })[]>;
}

/**
 * Starts the load balancer plane of a cloud: sweeps what a killed run left, starts
 * the in-namespace process and waits until it answers. The process exits by itself
 * when this process dies.
 */
export async function startLoadBalancerPlane(cloud: Cloud): Promise<LoadBalancerPlane> {
  const dir = join(cloud.stateDir, 'elb');
  await sweepLoadBalancerPlane(dir);
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'config.json');
  const healthFile = join(dir, 'health.json');
  let generation = 0;
  writeConfig(configFile, JSON.stringify({ generation, loadBalancers: [] }));
  const ns = inNamespace(cloud.netns);
  const owner = refOf(process.pid);
  const plane = spawnDetached(ns[0] as string,
    [...ns.slice(1), PYTHON, ELBPLANE, dir, '--parent', `${String(owner.pid)}:${owner.startTime}`], join(dir, 'plane.log'));
  writeFileSync(join(dir, 'plane.json'), JSON.stringify(plane));

  // Read on every call (a few kB): the plane replaces it by rename, and inode numbers are reused.
  const readHealth = (): HealthFile | undefined => {
    try {
      return JSON.parse(readFileSync(healthFile, 'utf8')) as HealthFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
  const acknowledged = async (wanted: number): Promise<void> => {
    await waitFor(`the load balancer plane to apply configuration ${String(wanted)}`, () => {
      if (!isAlive(plane)) throw new LocalCloudError(`the load balancer plane exited: see ${join(dir, 'plane.log')}`);
      return (readHealth()?.generation ?? -1) >= wanted;
    }, 10_000, 20);
  };
  try {
    await acknowledged(generation);
  } catch (error) {
    await stopProcess(plane);
    throw error;
  }

  let specs: readonly LoadBalancerSpec[] = [];
  let applied = '[]';
  const listeners = new Map<string, PlaneListener>(); // `${name}:${port}` → listener
  const connections = new Set<Socket>();
  let nextSocket = 1;
  let stopped = false;

  const openListener = async (key: string): Promise<PlaneListener> => {
    const socket = join(dir, `s${String(nextSocket++)}.sock`);
    const server = createServer({ allowHalfOpen: true }, (client) => relay(client, socket, connections));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new LocalCloudError(`listener ${key} has no port`);
    return { socket, server, port: address.port };
  };

  const applyNow = async (next: readonly LoadBalancerSpec[]): Promise<void> => {
    if (stopped) throw new LocalCloudError('the load balancer plane is stopped');
    for (const lb of next) parseHealthCheckTarget(lb.healthCheck.target);
    const wanted = new Set(next.flatMap((lb) => lb.listeners.map((l) => `${lb.name}:${String(l.loadBalancerPort)}`)));
    for (const key of wanted) if (!listeners.has(key)) listeners.set(key, await openListener(key));
    const removed = [...listeners].filter(([key]) => !wanted.has(key));
    // Stop accepting on removed listeners before the plane forgets them (close() alone: its callback waits for open connections).
    for (const [key, l] of removed) {
      listeners.delete(key);
      l.server.close();
    }
    const loadBalancers = JSON.stringify(next.map((lb) => ({
      name: lb.name,
      healthCheck: lb.healthCheck,
      listeners: lb.listeners.map((l) => ({ ...l, socket: listeners.get(`${lb.name}:${String(l.loadBalancerPort)}`)?.socket })),
      instances: lb.instances,
    })));
    specs = next;
    // The sync applies every tick; most ticks change nothing and need no round trip to the plane.
    if (loadBalancers === applied) return;
    generation += 1;
    writeConfig(configFile, `{"generation":${String(generation)},"loadBalancers":${loadBalancers}}`);
    await acknowledged(generation);
    applied = loadBalancers;
  };
  let applying: Promise<void> = Promise.resolve();

  return {
    pid: plane.pid,

    apply(next) {
      // One configuration at a time: a tick's apply must not interleave with the previous one's.
      const run = applying.then(() => applyNow(next));
      applying = run.catch(() => undefined);
      return run;
    },

    localPorts() {
      const ports = new Map<string, Map<number, number>>();
      for (const lb of specs) {
        const byPort = new Map<number, number>();
        for (const l of lb.listeners) {
          const local = listeners.get(`${lb.name}:${String(l.loadBalancerPort)}`);
          if (local) byPort.set(l.loadBalancerPort, local.port);
        }
        ports.set(lb.name, byPort);
      }
      return ports;
    },

    health(name) {
      const lb = specs.find((s) => s.name === name);
      if (!lb) return [];
      const reported = new Map((readHealth()?.loadBalancers[name] ?? []).map((v) => [v.instanceId, v]));
      return lb.instances.map(({ instanceId }) => {
        const v = reported.get(instanceId);
        return v ? { instanceId, state: v.state, reasonCode: v.reasonCode, description: v.description } : { instanceId, ...REGISTERING };
      });
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of connections) c.destroy();
      await Promise.all([...listeners.values()].map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
      listeners.clear();
      await stopProcess(plane);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stops a plane a killed run left (recorded in DIR/plane.json) and removes its files. */
export async function sweepLoadBalancerPlane(dir: string): Promise<void> {
  const record = join(dir, 'plane.json');
  if (existsSync(record)) await stopProcess(JSON.parse(readFileSync(record, 'utf8')) as ProcessRef);
  rmSync(dir, { recursive: true, force: true });
}

/** One accepted connection → the in-namespace side's unix socket, both directions, half-close kept. */
function relay(client: Socket, socket: string, connections: Set<Socket>): void {
  const upstream = connect({ path: socket, allowHalfOpen: true });
  connections.add(client);
  connections.add(upstream);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
    connections.delete(client);
    connections.delete(upstream);
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
}

function writeConfig(file: string, json: string): void {
  writeFileSync(`${file}.tmp`, json);
  renameSync(`${file}.tmp`, file);
}
