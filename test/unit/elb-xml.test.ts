/**
 * The load balancer plane's DescribeInstanceHealth answer (issue 14, point 5) as the
 * real ELB SDK client reads it: a tiny HTTP server on 127.0.0.1 answers the SDK with
 * renderDescribeInstanceHealth, as the harness's proxy will in moto's place.
 */
import { createServer, type Server } from 'node:http';
import { DescribeInstanceHealthCommand, ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHealthCheckTarget, renderDescribeInstanceHealth, type InstanceHealthVerdict } from '../../localcloud/elb.js';

const VERDICTS: InstanceHealthVerdict[] = [
  { instanceId: 'i-0aaa', state: 'InService', reasonCode: 'N/A', description: 'N/A' },
  { instanceId: 'i-0bbb', state: 'OutOfService', reasonCode: 'ELB', description: 'Instance registration is still in progress.' },
  { instanceId: 'i-0ccc', state: 'OutOfService', reasonCode: 'Instance', description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.' },
];

describe('renderDescribeInstanceHealth, read by the real SDK', () => {
  let server: Server;
  let client: ElasticLoadBalancingClient;
  let bodies: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString())).on('end', () => {
        bodies.push(body);
        const params = new URLSearchParams(body);
        const requested = [...params].filter(([k]) => /^Instances\.member\.\d+\.InstanceId$/.test(k)).map(([, v]) => v);
        res.writeHead(200, { 'Content-Type': 'text/xml' }).end(renderDescribeInstanceHealth(VERDICTS, requested, 'req-1'));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    client = new ElasticLoadBalancingClient({
      endpoint: `http://127.0.0.1:${String(port)}`, region: 'us-east-1', maxAttempts: 1,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
  });
  afterAll(async () => {
    client?.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('parses every verdict with state, reason code and description', async () => {
    bodies = [];
    const answer = await client.send(new DescribeInstanceHealthCommand({ LoadBalancerName: 'web' }));
    expect(bodies[0]).toContain('Action=DescribeInstanceHealth');
    expect(answer.InstanceStates).toEqual(VERDICTS.map((v) => ({
      InstanceId: v.instanceId, State: v.state, ReasonCode: v.reasonCode, Description: v.description,
    })));
  });

  it('answers requested ids in order, an unregistered one Unknown as moto does, and none as an empty list', async () => {
    const answer = await client.send(new DescribeInstanceHealthCommand({ LoadBalancerName: 'web', Instances: [{ InstanceId: 'i-0ccc' }, { InstanceId: 'i-0zzz' }] }));
    expect(answer.InstanceStates?.map((s) => [s.InstanceId, s.State, s.ReasonCode])).toEqual([
      ['i-0ccc', 'OutOfService', 'Instance'], ['i-0zzz', 'Unknown', 'N/A'],
    ]);
    expect(renderDescribeInstanceHealth([], [], 'r')).toContain('<InstanceStates/>');
  });

  it('escapes what it embeds', () => {
    const xml = renderDescribeInstanceHealth([{ instanceId: 'i-<x>&', state: 'InService', reasonCode: 'N/A', description: 'a "b" <c>' }], [], 'r');
    expect(xml).toContain('<InstanceId>i-&lt;x&gt;&amp;</InstanceId>');
    expect(xml).toContain('<Description>a &quot;b&quot; &lt;c&gt;</Description>');
  });
});

describe('parseHealthCheckTarget', () => {
  it('reads the four protocols AWS documents and refuses what AWS refuses', () => {
    expect(parseHealthCheckTarget('HTTP:80/health')).toEqual({ protocol: 'HTTP', port: 80, path: '/health' });
    expect(parseHealthCheckTarget('https:443/x/y')).toEqual({ protocol: 'HTTPS', port: 443, path: '/x/y' });
    expect(parseHealthCheckTarget('TCP:22')).toEqual({ protocol: 'TCP', port: 22 });
    expect(parseHealthCheckTarget('SSL:443')).toEqual({ protocol: 'SSL', port: 443 });
    expect(() => parseHealthCheckTarget('HTTP:80')).toThrow(/ping path/);
    expect(() => parseHealthCheckTarget('TCP:22/x')).toThrow(/ping path/);
    expect(() => parseHealthCheckTarget('UDP:53')).toThrow(/PROTOCOL:PORT/);
    expect(() => parseHealthCheckTarget('TCP:0')).toThrow(/PROTOCOL:PORT/);
  });
});
