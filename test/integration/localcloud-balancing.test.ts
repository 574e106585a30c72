/**
 * The local cloud's load balancer and group health through the harness
 * (issue 14, points 5 and 6), driven with the real SDK through the proxy, as
 * argos drives AWS: an instance from the base image does not pass the load
 * balancer's health check until something serves it; the listener's local
 * port reaches only InService instances; a deregistration is honoured (which
 * moto alone forgets for a group's instances); a group with ELB health checks
 * replaces an instance that fails them after the grace period, and replaces
 * nothing while HealthCheck is suspended. The load balancer's DNS name answers
 * through the harness's name proxy, as the URL argos prints would on AWS.
 */
import { AutoScalingClient, CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, ResumeProcessesCommand, SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, DescribeSubnetsCommand, EC2Client, ImportKeyPairCommand } from '@aws-sdk/client-ec2';
import {
  ConfigureHealthCheckCommand,
  CreateLoadBalancerCommand,
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient,
  RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import { execa } from 'execa';
import { request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../localcloud/harness.js';
import { waitFor } from '../../localcloud/proc.js';
import { localCloudOrSkip } from '../support/local-cloud.js';
import { startMotoServer, type MotoServer } from '../support/moto.js';

const capability = localCloudOrSkip();
const BASE_AMI = 'ami-04681a1dbd79675a5';
/** First-boot user data that serves /health and the hostname on port 80, as a unit (so it comes back after a reboot). */
const SERVE = [
  '#!/bin/sh',
  'mkdir -p /srv/www && echo ok > /srv/www/health && hostname > /srv/www/index.html',
  'systemd-run --unit=web --property=Restart=always python3 -m http.server 80 --directory /srv/www',
].join('\n');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** GET `url` through the HTTP proxy at `proxy` (absolute-form request line, as curl --proxy sends). */
function getThroughProxy(proxy: string, url: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(proxy);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: hostname, port, path: url, headers: { host: new URL(url).host, connection: 'close' }, timeout: 5_000 }, (answer) => {
      let body = '';
      answer.on('data', (chunk: Buffer) => (body += chunk.toString()));
      answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body: body.trim() }));
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer from ${url} through ${proxy} in 5 s`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe.skipIf(!capability.ok)(`local cloud load balancer and group health${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let moto: MotoServer;
  let harness: Harness;
  let keyDir: string;
  let ec2: EC2Client;
  let elb: ElasticLoadBalancingClient;
  let autoscaling: AutoScalingClient;
  let subnets: string[];
  const log: string[] = [];

  const health = async (lb: string): Promise<Map<string, string>> =>
    new Map(((await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: lb }))).InstanceStates ?? []).map((s) => [s.InstanceId ?? '', `${s.State}: ${s.Description}`]));
  const groupInstances = async (group: string): Promise<string[]> =>
    ((await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }))).AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId ?? '').sort();
  const get = async (url: string): Promise<{ status: number; body: string }> => {
    const response = await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: (await response.text()).trim() };
  };

  /** A load balancer checking HTTP:80/health every 5 s (AWS's smallest interval), healthy/unhealthy after 2, and a group behind it. */
  async function makeTier(name: string, userData: string | undefined, grace: number): Promise<void> {
    await elb.send(new CreateLoadBalancerCommand({ LoadBalancerName: name, Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstancePort: 80 }], Subnets: subnets }));
    await elb.send(new ConfigureHealthCheckCommand({ LoadBalancerName: name, HealthCheck: { Target: 'HTTP:80/health', Interval: 5, Timeout: 2, HealthyThreshold: 2, UnhealthyThreshold: 2 } }));
    await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: name, LaunchTemplateData: { ImageId: BASE_AMI, InstanceType: 't3.micro', KeyName: 'lb-key', ...(userData ? { UserData: b64(userData) } : {}) } }));
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name, LaunchTemplate: { LaunchTemplateName: name }, MinSize: 1, MaxSize: 1, DesiredCapacity: 1,
        LoadBalancerNames: [name], HealthCheckType: 'ELB', HealthCheckGracePeriod: grace, VPCZoneIdentifier: subnets.join(','),
      }),
    );
  }

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'argos-lcb-'));
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    moto = await startMotoServer();
    harness = await startHarness({ motoEndpoint: moto.url, name: process.env['LOCALCLOUD_BALANCING_NAME'] ?? 'cb', identityFile: join(keyDir, 'id_ed25519'), log: (l) => log.push(l) });
    const config = { endpoint: harness.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 };
    ec2 = new EC2Client(config);
    elb = new ElasticLoadBalancingClient(config);
    autoscaling = new AutoScalingClient(config);
    await ec2.send(new ImportKeyPairCommand({ KeyName: 'lb-key', PublicKeyMaterial: await readFile(join(keyDir, 'id_ed25519.pub')) }));
    subnets = ((await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter((s) => s.DefaultForAz && s.CidrBlock?.startsWith('172.31.')).slice(0, 2).map((s) => s.SubnetId ?? '');
  }, 240_000);

  afterAll(async () => {
    try {
      await harness?.stop();
    } finally {
      await moto?.stop();
      for (const client of [ec2, elb, autoscaling]) client?.destroy();
      if (keyDir) await rm(keyDir, { recursive: true, force: true });
      if (log.length > 0) process.stdout.write(`harness log:\n  ${log.join('\n  ')}\n`);
    }
  }, 120_000);

  it('puts an instance that serves the check InService, routes to it, and honours its deregistration', async () => {
    await makeTier('web', SERVE, 300);
    const [id] = await waitFor('the group to launch', async () => ((await groupInstances('web')).length === 1 ? groupInstances('web') : undefined), 30_000, 250);
    // Registered but not yet checked twice: OutOfService, as AWS says of a new registration.
    expect((await health('web')).get(id as string)).toMatch(/^OutOfService/);
    await waitFor('InService', async () => (await health('web')).get(id as string)?.startsWith('InService'), 60_000, 500);
    const url = harness.balancing.urlOf('web') as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await get(`${url}/`)).body).toMatch(/^ip-172-31-/);
    // The DNS name AWS gives it (moto's, here) answers through the name proxy; an unknown name is refused there.
    const dnsName = (await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: ['web'] }))).LoadBalancerDescriptions?.[0]?.DNSName ?? '';
    expect(dnsName).toMatch(/^web[.-].*\.elb\.amazonaws\.com$/);
    expect(harness.balancing.nameProxyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await getThroughProxy(harness.balancing.nameProxyUrl, `http://${dnsName}/`)).toEqual({ status: 200, body: expect.stringMatching(/^ip-172-31-/) as unknown });
    const unknown = await getThroughProxy(harness.balancing.nameProxyUrl, 'http://example.com/');
    expect(unknown.status).toBe(502);
    expect(unknown.body).toContain('no load balancer listening at example.com:80');

    await elb.send(new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: 'web', Instances: [{ InstanceId: id }] }));
    // moto alone would still list the group's instance; AWS, and the harness, do not.
    expect((await health('web')).has(id as string)).toBe(false);
    expect((await get(`${url}/`)).status).toBe(503);
    await elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: 'web', Instances: [{ InstanceId: id }] }));
    await waitFor('InService again', async () => (await health('web')).get(id as string)?.startsWith('InService'), 60_000, 500);
    expect((await get(`${url}/`)).status).toBe(200);
  }, 180_000);

  it('keeps an instance from the bare base image OutOfService, and its group replaces it after the grace period, not while HealthCheck is suspended', async () => {
    await makeTier('bare', undefined, 20);
    const [first] = await waitFor('the group to launch', async () => ((await groupInstances('bare')).length === 1 ? groupInstances('bare') : undefined), 30_000, 250);
    await autoscaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: 'bare', ScalingProcesses: ['HealthCheck'] }));
    // Past the grace period with the check failing: nothing is replaced while HealthCheck is suspended.
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    expect((await health('bare')).get(first as string)).toMatch(/^OutOfService: Instance has failed at least the UnhealthyThreshold/);
    expect(await groupInstances('bare')).toEqual([first]);
    await autoscaling.send(new ResumeProcessesCommand({ AutoScalingGroupName: 'bare', ScalingProcesses: ['HealthCheck'] }));
    const replaced = await waitFor('a replacement', async () => {
      const now = await groupInstances('bare');
      return now.length === 1 && now[0] !== first ? now : undefined;
    }, 60_000, 500);
    expect(replaced).not.toContain(first);
    expect(log.some((line) => line.includes(`bare: replacing ${first as string}: an ELB health check indicated`))).toBe(true);
  }, 240_000);
});
