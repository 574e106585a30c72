/**
 * The local cloud's AWS proxy (localcloud/aws-proxy.ts) in front of a stand-in
 * upstream on 127.0.0.1 that records what reaches it: real SDK requests pass
 * through unchanged, interceptors see the service from the SigV4 scope and the
 * action, answer instead of the upstream or rewrite its answer.
 */
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeImagesCommand, EC2Client, RebootInstancesCommand } from '@aws-sdk/client-ec2';
import { listParam, rewriteFieldAfter, startAwsProxy, type AwsProxy, type ProxiedRequest } from '../../localcloud/aws-proxy.js';

const IMAGES = '<DescribeImagesResponse><imagesSet>'
  + '<item><imageId>ami-1</imageId><blockDeviceMapping><item><deviceName>/dev/sda1</deviceName></item></blockDeviceMapping><imageState>available</imageState></item>'
  + '<item><imageId>ami-2</imageId><imageState>available</imageState></item>'
  + '</imagesSet></DescribeImagesResponse>';

describe('AWS proxy', () => {
  let upstream: Server;
  let proxy: AwsProxy;
  const received: string[] = [];
  let ec2: EC2Client;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        received.push(body);
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(body.includes('Action=DescribeImages') ? IMAGES : '<RebootInstancesResponse><return>true</return></RebootInstancesResponse>');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    proxy = await startAwsProxy({ motoEndpoint: `http://127.0.0.1:${String((upstream.address() as AddressInfo).port)}` });
    ec2 = new EC2Client({ endpoint: proxy.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  });

  afterAll(async () => {
    await proxy.stop();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('passes a request through unchanged when nothing intercepts it', async () => {
    const images = await ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-1'] }));
    expect(images.Images?.map((i) => [i.ImageId, i.State])).toEqual([['ami-1', 'available'], ['ami-2', 'available']]);
    expect(received.at(-1)).toContain('Action=DescribeImages');
  });

  it('gives interceptors the service and action, lets after rewrite the answer and before answer instead', async () => {
    const seen: ProxiedRequest[] = [];
    proxy.intercept('ec2', 'DescribeImages', {
      async after(request, response) {
        seen.push(request);
        return { ...response, body: rewriteFieldAfter(response.body, 'imageId', 'ami-2', 'imageState', 'pending') };
      },
    });
    proxy.intercept('ec2', 'RebootInstances', {
      async before(request) {
        seen.push(request);
        return { status: 400, contentType: 'text/xml', body: '<Response><Errors><Error><Code>IncorrectState</Code><Message>no</Message></Error></Errors></Response>' };
      },
    });
    const images = await ec2.send(new DescribeImagesCommand({}));
    expect(images.Images?.map((i) => i.State)).toEqual(['available', 'pending']);
    const count = received.length;
    await expect(ec2.send(new RebootInstancesCommand({ InstanceIds: ['i-1', 'i-2'] }))).rejects.toThrow(/no/);
    expect(received.length).toBe(count); // the upstream never saw the reboot
    expect(seen.map((r) => [r.service, r.action])).toEqual([['ec2', 'DescribeImages'], ['ec2', 'RebootInstances']]);
    expect(listParam(seen[1]?.params ?? new URLSearchParams(), 'InstanceId')).toEqual(['i-1', 'i-2']);
  });

  it('keeps an idle connection open, so a client reusing it after 6.5 s is not reset', async () => {
    // The SDK reuses idle keep-alive connections and has no idle timeout of its own. Node's
    // server closes a connection idle for keepAliveTimeout (5 s by default, + 1 s): a request written
    // on it as it closes is reset (ECONNRESET, "socket hang up"), which the harness test
    // met in CI. The proxy keeps idle connections open: the second request, 6.5 s later
    // (Node would close at 5 s plus a 1 s grace), goes over the same connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (): Promise<{ reused: boolean; status: number }> => new Promise((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/`, { method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ reused: req.reusedSocket, status: res.statusCode ?? 0 }));
      });
      req.on('error', reject);
      req.end('Action=DescribeImages');
    });
    try {
      expect(await post()).toEqual({ reused: false, status: 200 });
      await new Promise((r) => setTimeout(r, 6_500));
      expect(await post()).toEqual({ reused: true, status: 200 });
    } finally {
      agent.destroy();
    }
  }, 15_000);

  it('refuses a moto endpoint that is not on this machine', async () => {
    await expect(startAwsProxy({ motoEndpoint: 'http://10.0.0.1:5000' })).rejects.toThrow(/not on this machine/);
  });
});
