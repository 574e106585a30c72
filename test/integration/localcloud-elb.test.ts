/**
 * The local cloud's classic load balancer data plane (issue 14, point 5) on real
 * machines: health checks from inside the cloud namespace with the load balancer's
 * own HealthCheck, DescribeInstanceHealth's verdicts, and a 127.0.0.1 listener that
 * forwards only to InService instances, round robin. Needs root and nspawn (skips
 * with the reason otherwise; fails under ARGOS_REQUIRE_LOCAL_TARGET=1). About 30 s.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftovers, startCloud, type Cloud } from '../../localcloud/cloud.js';
import { startLoadBalancerPlane, type LoadBalancerPlane, type LoadBalancerSpec } from '../../localcloud/elb.js';
import { PYTHON } from '../../localcloud/network.js';
import { isAlive, processStartTime, waitFor } from '../../localcloud/proc.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();
const OWNER = fileURLToPath(new URL('../support/elb-plane-owner.ts', import.meta.url));

const A = { instanceId: 'i-0aaaa0000000000e1', privateIp: '172.31.5.9', publicDnsName: 'ec2-54-1-3-1.compute-1.amazonaws.com' };
const B = { instanceId: 'i-0bbbb0000000000e2', privateIp: '172.31.7.3', publicDnsName: 'ec2-54-1-3-2.compute-1.amazonaws.com' };
/** A fast health check: interval 1 s, timeout 1 s, thresholds 2 (AWS's minimums are 5 s and 2). */
const FAST = { target: 'HTTP:80/health', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };
const web = (instances: readonly (typeof A)[]): LoadBalancerSpec => ({
  name: 'web', healthCheck: FAST,
  listeners: [{ loadBalancerPort: 80, instancePort: 80, protocol: 'HTTP' }],
  instances: instances.map((m) => ({ instanceId: m.instanceId, address: m.privateIp, ec2State: 'running' })),
});
const REGISTERING = { state: 'OutOfService', reasonCode: 'ELB', description: 'Instance registration is still in progress.' };
const FAILED = {
  state: 'OutOfService', reasonCode: 'Instance',
  description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.',
};
const IN_SERVICE = { state: 'InService', reasonCode: 'N/A', description: 'N/A' };

/** One GET on a fresh connection (no keep-alive: each request is one connection the plane balances). */
async function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('error', reject).end();
  });
}

describe.skipIf(!capability.ok)(`local cloud load balancer${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let cloud: Cloud;
  let plane: LoadBalancerPlane;
  let keyDir: string;

  const ssh = async (host: string, command: string): Promise<string> =>
    (await execa('ssh', ['-F', cloud.sshConfigPath, '-o', 'BatchMode=yes', host, command])).stdout.trim();
  /** python3 -m http.server on port 80 as a transient unit: / answers the hostname, /health "ok". */
  const startWeb = (host: string): Promise<string> => ssh(host,
    'sudo mkdir -p /srv/www && hostname | sudo tee /srv/www/index.html >/dev/null && echo ok | sudo tee /srv/www/health >/dev/null && ' +
    '{ sudo systemctl stop web; sudo systemctl reset-failed web; } 2>/dev/null; ' +
    'sudo systemd-run --quiet --unit=web --property=WorkingDirectory=/srv/www /usr/bin/python3 -m http.server 80 && ' +
    'for i in $(seq 50); do python3 -c "import socket; socket.create_connection((\'127.0.0.1\', 80), 1)" 2>/dev/null && exit 0; sleep 0.1; done; exit 1');
  const webPort = (): number => plane.localPorts().get('web')?.get(80) ?? 0;
  const verdict = (id: string): object | undefined => {
    const v = plane.health('web').find((h) => h.instanceId === id);
    return v && { state: v.state, reasonCode: v.reasonCode, description: v.description };
  };
  const waitForState = async (id: string, state: string, timeoutMs = 10_000): Promise<number> => {
    const t0 = Date.now();
    await waitFor(`${id} ${state}`, () => plane.health('web').find((h) => h.instanceId === id)?.state === state, timeoutMs, 2);
    return Date.now() - t0;
  };

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'argos-lb-'));
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    const publicKey = await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8');
    // GIVEN a cloud with two machines from the base image, a web server on A only
    cloud = await startCloud({ name: 'lb', identityFile: join(keyDir, 'id_ed25519') });
    await Promise.all([A, B].map((m) => cloud.launchMachine({ ...m, authorizedKey: publicKey })));
    await startWeb(A.publicDnsName);
    plane = await startLoadBalancerPlane(cloud);
  }, 240_000);

  afterAll(async () => {
    await plane?.stop();
    await cloud?.shutdown();
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  }, 60_000);

  it('keeps a new instance OutOfService until HealthyThreshold checks pass; one without the app fails with reason Instance', async () => {
    await plane.apply([web([A, B])]);
    // Both have just been registered: at most one check each has run, below both thresholds.
    expect(verdict(A.instanceId)).toEqual(REGISTERING);
    expect(verdict(B.instanceId)).toEqual(REGISTERING);
    // THEN A passes its 2nd check one interval after its 1st, B fails its 2nd
    const toInService = await waitForState(A.instanceId, 'InService');
    expect(toInService).toBeGreaterThanOrEqual(900);
    expect(toInService).toBeLessThan(3000);
    await waitFor('B failed twice', () => plane.health('web').find((h) => h.instanceId === B.instanceId)?.reasonCode === 'Instance', 5000, 10);
    expect(verdict(A.instanceId)).toEqual(IN_SERVICE);
    expect(verdict(B.instanceId)).toEqual(FAILED);
    console.log(`[elb] registration to InService (2 checks, interval 1 s): ${String(toInService)} ms`);
  });

  it('forwards requests on the local port only to InService instances', async () => {
    expect(webPort()).toBeGreaterThan(0);
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(() => get(webPort())));
    expect(answers).toEqual(Array(6).fill({ status: 200, body: 'ip-172-31-5-9' }));
  });

  it('round-robins across two serving instances, each answering its own hostname', async () => {
    await startWeb(B.publicDnsName);
    await waitForState(B.instanceId, 'InService');
    const bodies: string[] = [];
    for (let i = 0; i < 6; i += 1) bodies.push((await get(webPort())).body);
    expect(new Set(bodies)).toEqual(new Set(['ip-172-31-5-9', 'ip-172-31-7-3']));
    for (let i = 1; i < bodies.length; i += 1) expect(bodies[i]).not.toBe(bodies[i - 1]);
  });

  it('stops routing to a deregistered instance as soon as apply resolves, and keeps the local port', async () => {
    const port = webPort();
    await plane.apply([web([A])]);
    expect(webPort()).toBe(port);
    const answers = await Promise.all([1, 2, 3, 4].map(() => get(port)));
    expect(answers.map((a) => a.body)).toEqual(Array(4).fill('ip-172-31-5-9'));
    expect(plane.health('web').map((h) => h.instanceId)).toEqual([A.instanceId]);
  });

  it('takes an instance whose app stopped OutOfService after UnhealthyThreshold failures, then answers 503', async () => {
    const stoppedAt = Date.now();
    await ssh(A.publicDnsName, 'sudo systemctl stop web');
    const toOutOfService = await waitForState(A.instanceId, 'OutOfService');
    const seenAt = Date.now();
    // Two failed checks one interval apart: between one and three intervals after the stop.
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(900);
    expect(toOutOfService).toBeLessThan(4000);
    expect(verdict(A.instanceId)).toEqual(FAILED);
    expect(await get(webPort())).toEqual({ status: 503, body: '' });
    // Check-to-verdict: the plane stamps the verdict change when the failing check returns; health() saw it at seenAt.
    const health = JSON.parse(readFileSync(join(cloud.stateDir, 'elb', 'health.json'), 'utf8')) as { loadBalancers: { web: { changedAt: number }[] } };
    const changedAt = (health.loadBalancers.web[0]?.changedAt ?? 0) * 1000;
    console.log(`[elb] app stopped to OutOfService (2 failures, interval 1 s): ${String(seenAt - stoppedAt)} ms; ` +
      `check result to verdict seen by health(): at most ${(seenAt - changedAt).toFixed(1)} ms (polled every 2 ms)`);
  });

  it('checks TCP targets and relays TCP listeners (a second load balancer in front of sshd)', async () => {
    await plane.apply([web([A]), {
      name: 'ssh', healthCheck: { ...FAST, target: 'TCP:22' },
      listeners: [{ loadBalancerPort: 2222, instancePort: 22, protocol: 'TCP' }],
      instances: [{ instanceId: B.instanceId, address: B.privateIp }],
    }]);
    await waitFor('B InService behind ssh', () => plane.health('ssh')[0]?.state === 'InService', 10_000, 10);
    const port = plane.localPorts().get('ssh')?.get(2222) ?? 0;
    const banner = await execa(PYTHON, ['-c', `import socket; print(socket.create_connection(("127.0.0.1", ${String(port)}), 5).recv(64).decode())`]);
    expect(banner.stdout).toMatch(/^SSH-2\.0-OpenSSH/);
  });

  it('measures forwarding overhead and the plane\'s memory', async () => {
    await startWeb(A.publicDnsName);
    await waitForState(A.instanceId, 'InService');
    const n = 100;
    const loop = (host: string, port: number): string =>
      `import http.client, time\nt=time.monotonic()\nfor _ in range(${String(n)}):\n` +
      `  c=http.client.HTTPConnection("${host}", ${String(port)}, timeout=5); c.request("GET", "/"); c.getresponse().read(); c.close()\n` +
      'print((time.monotonic()-t)*1000/' + String(n) + ')';
    // Alternating rounds (the CPU is shared): direct from inside the namespace, one connection per request
    // as the plane's backend side makes them, against the same through the 127.0.0.1 listener.
    const direct: number[] = [];
    const via: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      direct.push(Number(await cloud.execInNamespace([PYTHON, '-c', loop(A.privateIp, 80)])));
      via.push(Number((await execa(PYTHON, ['-c', loop('127.0.0.1', webPort())])).stdout));
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const pss = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(plane.pid)}/smaps_rollup`, 'utf8'))?.[1];
    console.log(`[elb] per request (median of 5 rounds of ${String(n)}): direct in namespace ${median(direct).toFixed(2)} ms, ` +
      `via 127.0.0.1 listener ${median(via).toFixed(2)} ms (overhead ${(median(via) - median(direct)).toFixed(2)} ms; ` +
      `best rounds ${Math.min(...direct).toFixed(2)} / ${Math.min(...via).toFixed(2)} ms); plane process PSS ${(Number(pss) / 1024).toFixed(1)} MiB`);
    const viaPlane = median(via);
    expect(viaPlane).toBeGreaterThan(0);
    expect(median(direct)).toBeGreaterThan(0);
    expect(Number(pss)).toBeGreaterThan(0);
  }, 60_000);

  it('leaves no process, socket file or namespace behind, also when its owner is killed', async () => {
    const { pid } = plane;
    const started = processStartTime(pid);
    const dir = join(cloud.stateDir, 'elb');
    expect(readdirSync(dir).filter((f) => f.endsWith('.sock')).length).toBe(2);
    await plane.stop();
    expect(started !== undefined && isAlive({ pid, startTime: started })).toBe(false);
    expect(existsSync(dir)).toBe(false);

    // A harness killed outright: its plane notices the owner is gone and exits, removing its sockets.
    const owner = execa(process.execPath, ['--import', 'tsx', OWNER, cloud.name], { reject: false });
    const planePid = await new Promise<number>((resolve, reject) => {
      owner.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      void owner.then((r) => reject(new Error(`plane owner exited: ${String(r.stderr)}`)));
    });
    const orphan = { pid: planePid, startTime: processStartTime(planePid) ?? '' };
    expect(isAlive(orphan)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.sock'))).toHaveLength(1);
    owner.kill('SIGKILL');
    const t0 = Date.now();
    await waitFor('the orphaned plane to exit', () => !isAlive(orphan), 5000, 20);
    console.log(`[elb] plane exit after its owner was killed: ${String(Date.now() - t0)} ms`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.sock'))).toEqual([]);

    const { stateDir, netns, name } = cloud;
    await cloud.shutdown();
    expect(await leftovers(stateDir, netns, name)).toEqual([]);
  }, 60_000);
});
