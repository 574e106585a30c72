/**
 * Autoscaling that replaces unhealthy instances (issue 14, point 6) against moto
 * only (no machines): with a plane stub reporting OutOfService, checkGroupHealth
 * makes moto terminate the instance and launch a replacement that moto registers
 * with the load balancer. Also: the load balancer reader, and the DescribeInstanceHealth
 * renderer compared byte for byte with moto's own answer.
 */
import {
  AutoScalingClient, CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, DescribeInstancesCommand, EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
import {
  ConfigureHealthCheckCommand, CreateLoadBalancerCommand, DescribeInstanceHealthCommand, DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient, RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { checkGroupHealth } from '../../localcloud/asg-health.js';
import { readLoadBalancerSpecs, renderDescribeInstanceHealth, type InstanceHealthVerdict, type LoadBalancerPlane } from '../../localcloud/elb.js';
import { findDefaultVpc } from '../../src/aws/vpc.js';
import { MOTO_AMI } from '../support/aws-fixtures.js';

const config = { region: 'us-east-1', maxAttempts: 1 };
const autoscaling = new AutoScalingClient(config);
const ec2 = new EC2Client(config);
const elb = new ElasticLoadBalancingClient(config);
const GRACE = 60;

/** A plane stub: every instance the test put behind a load balancer gets `state` (what a failing or healthy app gets). */
const planeSaying = (state: 'InService' | 'OutOfService'): Pick<LoadBalancerPlane, 'health'> => ({
  health: (name) => (lbInstances.get(name) ?? []).map((instanceId) => ({ instanceId, state, reasonCode: 'N/A', description: 'N/A' })),
});
const lbInstances = new Map<string, string[]>();

async function groupOf(name: string) {
  return (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }))).AutoScalingGroups?.[0];
}
async function ec2StateOf(id: string): Promise<string | undefined> {
  const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}
async function launchTimeOf(id: string): Promise<Date> {
  const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations?.[0]?.Instances?.[0]?.LaunchTime ?? new Date(0);
}
async function registeredWith(lb: string): Promise<string[]> {
  const d = await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [lb] }));
  return (d.LoadBalancerDescriptions?.[0]?.Instances ?? []).map((i) => i.InstanceId ?? '');
}

/** A load balancer and a group of one behind it, as argos makes them (ELB health check type, a grace period). */
async function makeGroup(name: string, healthCheckType: 'ELB' | 'EC2'): Promise<string> {
  const vpc = await findDefaultVpc(ec2, 'us-east-1');
  const subnets = vpc.subnets.slice(0, 2).map((s) => s.subnetId);
  await elb.send(new CreateLoadBalancerCommand({
    LoadBalancerName: name, Subnets: subnets,
    Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: 8000 }],
  }));
  await elb.send(new ConfigureHealthCheckCommand({
    LoadBalancerName: name,
    HealthCheck: { Target: 'HTTP:8000/health', Interval: 10, Timeout: 5, HealthyThreshold: 2, UnhealthyThreshold: 3 },
  }));
  await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: name, LaunchTemplateData: { ImageId: MOTO_AMI, InstanceType: 't3.small' } }));
  await autoscaling.send(new CreateAutoScalingGroupCommand({
    AutoScalingGroupName: name, LaunchTemplate: { LaunchTemplateName: name, Version: '$Latest' },
    MinSize: 1, MaxSize: 2, DesiredCapacity: 1, VPCZoneIdentifier: subnets.join(','),
    LoadBalancerNames: [name], HealthCheckType: healthCheckType, HealthCheckGracePeriod: GRACE,
  }));
  const id = (await groupOf(name))?.Instances?.[0]?.InstanceId ?? '';
  expect(id).toMatch(/^i-/);
  lbInstances.set(name, [id]);
  return id;
}

describe('autoscaling replaces unhealthy instances through moto', () => {
  afterAll(() => {
    autoscaling.destroy();
    ec2.destroy();
    elb.destroy();
  });

  it('replaces an instance its load balancer reports OutOfService once the grace period is over, not before', async () => {
    const first = await makeGroup('web-elb', 'ELB');
    const launched = await launchTimeOf(first);
    // WHEN the plane says OutOfService within the grace period: nothing happens
    expect(await checkGroupHealth({ autoscaling, ec2 }, planeSaying('OutOfService'), new Date(launched.getTime() + (GRACE - 1) * 1000))).toEqual([]);
    expect(await ec2StateOf(first)).toBe('running');
    // WHEN it still says so after the grace period
    const replaced = await checkGroupHealth({ autoscaling, ec2 }, planeSaying('OutOfService'), new Date(launched.getTime() + (GRACE + 1) * 1000));
    expect(replaced).toEqual([expect.objectContaining({ groupName: 'web-elb', instanceId: first, cause: 'elb-health' })]);
    // THEN moto terminated it, launched a replacement and moved the load balancer's registration
    expect(await ec2StateOf(first)).toBe('terminated');
    const group = await groupOf('web-elb');
    expect(group?.DesiredCapacity).toBe(1);
    const now = group?.Instances ?? [];
    expect(now.map((i) => [i.LifecycleState, i.HealthStatus])).toEqual([['InService', 'Healthy']]);
    const second = now[0]?.InstanceId ?? '';
    expect(second).not.toBe(first);
    expect(await ec2StateOf(second)).toBe('running');
    expect(await registeredWith('web-elb')).toEqual([second]);
  });

  it('ignores the load balancer for an EC2 group, and replaces its stopped instance whatever the load balancer says', async () => {
    const id = await makeGroup('web-ec2', 'EC2');
    const late = new Date((await launchTimeOf(id)).getTime() + 3600_000);
    expect((await checkGroupHealth({ autoscaling, ec2 }, planeSaying('OutOfService'), late)).filter((r) => r.groupName === 'web-ec2')).toEqual([]);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    const replaced = await checkGroupHealth({ autoscaling, ec2 }, planeSaying('InService'), late);
    expect(replaced.filter((r) => r.groupName === 'web-ec2')).toEqual([expect.objectContaining({ instanceId: id, cause: 'ec2-status' })]);
    const after = (await groupOf('web-ec2'))?.Instances ?? [];
    expect(after).toHaveLength(1);
    expect(after[0]?.InstanceId).not.toBe(id);
  });

  it('reads moto\'s load balancers into plane specs: health check, listeners, registered instances with their private IPs', async () => {
    const specs = await readLoadBalancerSpecs({ elb, ec2 });
    const web = specs.find((s) => s.name === 'web-elb');
    expect(web?.healthCheck).toEqual({ target: 'HTTP:8000/health', intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 3 });
    expect(web?.listeners).toEqual([{ loadBalancerPort: 80, instancePort: 8000, protocol: 'HTTP' }]);
    const registered = await registeredWith('web-elb');
    const ips = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: registered }))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    expect(web?.instances).toEqual(ips.map((i) => ({ instanceId: i.InstanceId, address: i.PrivateIpAddress, ec2State: 'running' })));
    expect(web?.instances[0]?.address).toMatch(/^172\.31\./);
  });

  it('reads an instance registered again through the API once, as AWS lists it (moto lists a group\'s instance twice)', async () => {
    const [id] = await registeredWith('web-elb');
    await elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: 'web-elb', Instances: [{ InstanceId: id }] }));
    expect(await registeredWith('web-elb')).toEqual([id, id]);
    const web = (await readLoadBalancerSpecs({ elb, ec2 })).find((s) => s.name === 'web-elb');
    expect(web?.instances.map((i) => i.instanceId)).toEqual([id]);
  });

  it('renders DescribeInstanceHealth exactly as moto answers it, request id aside', async () => {
    const [id] = await registeredWith('web-elb');
    const params = new URLSearchParams({ Action: 'DescribeInstanceHealth', Version: '2012-06-01', LoadBalancerName: 'web-elb', 'Instances.member.1.InstanceId': id ?? '', 'Instances.member.2.InstanceId': 'i-0notregistered' });
    const raw = await (await fetch(`${inject('motoUrl')}/`, {
      method: 'POST', body: params,
      headers: { Authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=x' },
    })).text();
    const parsed = await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: 'web-elb' }));
    const verdicts = (parsed.InstanceStates ?? []).map((s) => ({ instanceId: s.InstanceId, state: s.State, reasonCode: s.ReasonCode, description: s.Description }) as InstanceHealthVerdict);
    const requestId = /<RequestId>([^<]*)<\/RequestId>/.exec(raw)?.[1] ?? '';
    expect(requestId).not.toBe('');
    expect(renderDescribeInstanceHealth(verdicts, [id ?? '', 'i-0notregistered'], requestId)).toBe(raw);
  });
});
