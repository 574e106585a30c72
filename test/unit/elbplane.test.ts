/**
 * The health semantics of the load balancer plane's in-namespace process
 * (localcloud/elbplane.py), without root or machines: its verdict state machine
 * fed check results, and its probes against servers on 127.0.0.1 (loopback only).
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON } from '../../localcloud/network.js';

const LOCALCLOUD = fileURLToPath(new URL('../../localcloud/', import.meta.url));

/** Runs `body` in Python with elbplane imported; its last expression printed as JSON. */
async function python(body: string): Promise<unknown> {
  const script = `import json, sys\nsys.path.insert(0, ${JSON.stringify(LOCALCLOUD)})\nimport elbplane\n${body}`;
  return JSON.parse((await execa(PYTHON, ['-c', script])).stdout) as unknown;
}

describe('elbplane verdicts', () => {
  it('follows AWS: registering until HealthyThreshold successes, OutOfService after UnhealthyThreshold failures', async () => {
    const states = await python(`
hc = {'healthyThreshold': 3, 'unhealthyThreshold': 2}
t = elbplane.Target({'instanceId': 'i-1', 'address': '172.31.5.9'})
seen = [t.verdict()['description']]
for ok in [True, True, True, False, True, False, False, True, True, True]:
    t.record(ok, hc)
    v = t.verdict()
    seen.append([v['state'], v['reasonCode'], v['description'][:40]])
print(json.dumps(seen))`);
    const REG = 'Instance registration is still in progress.';
    const FAILED = 'Instance has failed at least the Unhealt';
    const NOT_PASSED = 'Instance has not passed the configured H';
    expect(states).toEqual([
      REG,
      ['OutOfService', 'ELB', REG.slice(0, 40)], ['OutOfService', 'ELB', REG.slice(0, 40)], // 2 of 3 successes
      ['InService', 'N/A', 'N/A'],
      ['InService', 'N/A', 'N/A'], ['InService', 'N/A', 'N/A'], // one failure, then a success resets the count
      ['InService', 'N/A', 'N/A'], ['OutOfService', 'Instance', FAILED], // 2 consecutive failures
      ['OutOfService', 'Instance', NOT_PASSED], ['OutOfService', 'Instance', NOT_PASSED], ['InService', 'N/A', 'N/A'],
    ]);
  });

  it('fails a new instance that never answers, and reports EC2 states without probing', async () => {
    expect(await python(`
hc = {'healthyThreshold': 2, 'unhealthyThreshold': 2}
t = elbplane.Target({'instanceId': 'i-1', 'address': '172.31.5.9'})
t.record(False, hc); first = t.verdict()['reasonCode']
t.record(False, hc); second = t.verdict()['reasonCode']
s = elbplane.Target({'instanceId': 'i-2', 'address': '172.31.5.10', 'ec2State': 'stopped'})
s.not_running('stopped')
print(json.dumps([first, second, s.verdict()['state'], s.verdict()['description']]))`)).toEqual(['ELB', 'Instance', 'OutOfService', 'Instance is in stopped state.']);
  });

  it('parses targets as AWS writes them', async () => {
    expect(await python(`print(json.dumps([elbplane.parse_target(t) for t in ['HTTP:80/health', 'https:443/a/b', 'TCP:22', 'SSL:443', 'HTTP:8000']]))`))
      .toEqual([['HTTP', 80, '/health'], ['HTTPS', 443, '/a/b'], ['TCP', 22, null], ['SSL', 443, null], ['HTTP', 8000, '/']]);
  });
});

describe('elbplane probes (127.0.0.1 servers)', () => {
  let http: Server;
  let https: Server;
  let httpPort = 0;
  let httpsPort = 0;
  let closedPort = 0;
  let certDir = '';

  beforeAll(async () => {
    // 200 on /ok, 500 on /fail, a 200 that comes after 1.5 s on /slow.
    http = createHttpServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('late'), 1500);
      else res.writeHead(req.url === '/ok' ? 200 : 500).end('x');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const a = http.address();
    httpPort = typeof a === 'object' && a ? a.port : 0;
    const spare = createTcpServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const b = spare.address();
    closedPort = typeof b === 'object' && b ? b.port : 0;
    await new Promise((resolve) => spare.close(resolve));
    // A back end with a self-signed certificate: ELB does not validate back-end certificates.
    certDir = await mkdtemp(join(tmpdir(), 'argos-elbplane-'));
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=backend',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')]);
    https = createHttpsServer({ key: await readFile(join(certDir, 'key.pem')), cert: await readFile(join(certDir, 'cert.pem')) },
      (req, res) => res.writeHead(req.url === '/ok' ? 200 : 404).end('x'));
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    const c = https.address();
    httpsPort = typeof c === 'object' && c ? c.port : 0;
  });
  afterAll(async () => {
    for (const server of [http, https]) {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
    if (certDir) await rm(certDir, { recursive: true, force: true });
  });

  /** elbplane.probe on 127.0.0.1 for each [target, timeout seconds], in one Python run. */
  const probe = async (checks: readonly [string, number][]): Promise<unknown> =>
    python(`print(json.dumps([elbplane.probe(t, '127.0.0.1', s) for t, s in ${JSON.stringify(checks)}]))`);

  it('counts only a 200 within the timeout for HTTP, and a completed connect for TCP', async () => {
    const [p, closed] = [String(httpPort), String(closedPort)];
    expect(await probe([[`HTTP:${p}/ok`, 1], [`HTTP:${p}/fail`, 1], [`HTTP:${p}/slow`, 1], [`TCP:${p}`, 1], [`TCP:${closed}`, 1], [`HTTP:${closed}/ok`, 1]]))
      .toEqual([true, false, false, true, false, false]);
  });

  it('checks HTTPS with a GET over TLS and SSL with a handshake, without validating the certificate', async () => {
    const [p, plain] = [String(httpsPort), String(httpPort)];
    expect(await probe([[`HTTPS:${p}/ok`, 2], [`HTTPS:${p}/missing`, 2], [`SSL:${p}`, 2], [`SSL:${plain}`, 1], [`HTTPS:${plain}/ok`, 1]]))
      .toEqual([true, false, true, false, false]);
  });
});
