/**
 * Taking a batch out of a classic load balancer and putting it back, on a
 * load balancer modelled as AWS documents it: a deregistered instance stays
 * listed as InService, "Instance deregistration currently in progress", until
 * connection draining ends; a registered one is OutOfService until it passes
 * the health check HealthyThreshold times
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-conn-drain.html,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-healthchecks.html).
 */
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
  RegisterInstancesWithLoadBalancerCommand,
  type InstanceState,
} from '@aws-sdk/client-elastic-load-balancing';
import { CreateTagsCommand, DeleteTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { OUT_OF_ROTATION_TAG, putBackInRotation, restoreLeftoverRotation, takeOutOfRotation } from '../../src/autoscaling/rotation.js';
import { VirtualClock } from '../support/virtual-clock.js';

const elbMock = mockClient(ElasticLoadBalancingClient);
const elb = new ElasticLoadBalancingClient({ region: 'us-east-1' });
const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = { elb, ec2 };

/** A load balancer whose health answers follow the virtual clock: draining for `drainMs`, healthy `healthyAfterMs` after registering (never, if undefined). */
function modelLoadBalancer(clock: VirtualClock, registered: string[], timing: { drainMs: number; healthyAfterMs: number | undefined }) {
  const deregisteredAt = new Map<string, number>();
  const registeredAt = new Map<string, number>();
  elbMock.on(DeregisterInstancesFromLoadBalancerCommand).callsFake((input: { Instances: { InstanceId: string }[] }) => {
    for (const { InstanceId } of input.Instances) deregisteredAt.set(InstanceId, clock.now());
    return {};
  });
  elbMock.on(RegisterInstancesWithLoadBalancerCommand).callsFake((input: { Instances: { InstanceId: string }[] }) => {
    for (const { InstanceId } of input.Instances) {
      deregisteredAt.delete(InstanceId);
      registeredAt.set(InstanceId, clock.now());
      if (!registered.includes(InstanceId)) registered.push(InstanceId);
    }
    return {};
  });
  elbMock.on(DescribeInstanceHealthCommand).callsFake((input: { Instances?: { InstanceId: string }[] }) => {
    const states: InstanceState[] = [];
    for (const id of input.Instances?.map((i) => i.InstanceId) ?? registered) {
      const leftAt = deregisteredAt.get(id);
      if (leftAt !== undefined) {
        if (clock.now() - leftAt < timing.drainMs) states.push({ InstanceId: id, State: 'InService', Description: 'Instance deregistration currently in progress.' });
        continue;
      }
      const joinedAt = registeredAt.get(id);
      const healthy = joinedAt === undefined || (timing.healthyAfterMs !== undefined && clock.now() - joinedAt >= timing.healthyAfterMs);
      states.push(
        healthy
          ? { InstanceId: id, State: 'InService', Description: 'N/A' }
          : { InstanceId: id, State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.' },
      );
    }
    return { InstanceStates: states };
  });
}

beforeEach(() => {
  elbMock.reset();
  ec2Mock.reset();
});

/** Whether the first call of `first` came before the first call of `then` (each on its client's mock). */
function calledInOrder(first: { calledBefore(call: never): boolean } | undefined, then: unknown): boolean {
  return first !== undefined && then !== undefined && first.calledBefore(then as never);
}

describe('takeOutOfRotation', () => {
  it('returns once draining is over, not at the deregister call', async () => {
    const clock = new VirtualClock();
    modelLoadBalancer(clock, ['i-1', 'i-2'], { drainMs: 20_000, healthyAfterMs: 0 });
    const started = clock.now();
    await takeOutOfRotation(clients, { loadBalancerName: 'shop-web-elb', instanceIds: ['i-1'] }, 60, { signal: new AbortController().signal, clock });
    expect(clock.now() - started).toBeGreaterThanOrEqual(20_000);
    expect(clock.now() - started).toBeLessThan(30_000);
    // Tagged before the deregistration, so a run killed while the instance is out leaves a trace.
    expect(calledInOrder(ec2Mock.commandCalls(CreateTagsCommand)[0], elbMock.commandCalls(DeregisterInstancesFromLoadBalancerCommand)[0])).toBe(true);
    expect(ec2Mock.commandCalls(CreateTagsCommand)[0]?.args[0].input).toEqual({ Resources: ['i-1'], Tags: [{ Key: OUT_OF_ROTATION_TAG, Value: 'shop-web-elb' }] });
  });

  it('gives up after the draining timeout plus 30 s', async () => {
    const clock = new VirtualClock();
    modelLoadBalancer(clock, ['i-1'], { drainMs: Number.POSITIVE_INFINITY, healthyAfterMs: 0 });
    const error = await takeOutOfRotation(clients, { loadBalancerName: 'shop-web-elb', instanceIds: ['i-1'] }, 60, { signal: new AbortController().signal, clock }).catch((e: unknown) => e as Error & { code?: string });
    expect(error?.code).toBe('TIMEOUT');
    expect(error?.message).toContain('waiting for i-1 to drain from shop-web-elb');
  });
});

describe('putBackInRotation', () => {
  it('waits until the load balancer says InService', async () => {
    const clock = new VirtualClock();
    modelLoadBalancer(clock, ['i-2'], { drainMs: 0, healthyAfterMs: 20_000 });
    const started = clock.now();
    await putBackInRotation(clients, { loadBalancerName: 'shop-web-elb', instanceIds: ['i-1'], healthCheckTarget: 'HTTP:8000/health', advice: 'Look at the app.' }, { signal: new AbortController().signal, clock });
    expect(clock.now() - started).toBeGreaterThanOrEqual(20_000);
    // The tag goes once the instance is registered (a run killed while it waits leaves nothing to repair).
    expect(calledInOrder(elbMock.commandCalls(RegisterInstancesWithLoadBalancerCommand)[0], ec2Mock.commandCalls(DeleteTagsCommand)[0])).toBe(true);
    expect(ec2Mock.commandCalls(DeleteTagsCommand)[0]?.args[0].input).toEqual({ Resources: ['i-1'], Tags: [{ Key: OUT_OF_ROTATION_TAG }] });
  });

  it('names the instance, the reason, the check and where to look when it never passes', async () => {
    const clock = new VirtualClock();
    modelLoadBalancer(clock, ['i-2'], { drainMs: 0, healthyAfterMs: undefined });
    const error = await putBackInRotation(
      clients,
      { loadBalancerName: 'shop-web-elb', instanceIds: ['i-1'], healthCheckTarget: 'HTTP:8000/health', advice: 'Look at the app on i-1.' },
      { signal: new AbortController().signal, clock, timeoutMs: 120_000 },
    ).catch((e: unknown) => e as Error & { code?: string });
    expect(error?.code).toBe('TIMEOUT');
    expect(error?.message).toMatch(/still does not route to i-1 OutOfService \(Instance has failed at least the UnhealthyThreshold.*\): they fail its health check HTTP:8000\/health\. Look at the app on i-1\./);
  });
});

describe('restoreLeftoverRotation', () => {
  it('makes no call when no instance carries the tag of a run that did not finish', async () => {
    const restored = await restoreLeftoverRotation(clients, [{ instanceId: 'i-1' }, { instanceId: 'i-2' }], 'shop-web-elb');
    expect(restored).toEqual([]);
    expect([...elbMock.calls(), ...ec2Mock.calls()]).toEqual([]);
  });

  it('registers the tagged instances with the load balancer, then removes their tag', async () => {
    const restored = await restoreLeftoverRotation(clients, [{ instanceId: 'i-1' }, { instanceId: 'i-2', outOfRotation: 'shop-web-elb' }], 'shop-web-elb');
    expect(restored).toEqual(['i-2']);
    expect(calledInOrder(elbMock.commandCalls(RegisterInstancesWithLoadBalancerCommand)[0], ec2Mock.commandCalls(DeleteTagsCommand)[0])).toBe(true);
    expect(elbMock.commandCalls(RegisterInstancesWithLoadBalancerCommand)[0]?.args[0].input).toEqual({ LoadBalancerName: 'shop-web-elb', Instances: [{ InstanceId: 'i-2' }] });
    expect(ec2Mock.commandCalls(DeleteTagsCommand)[0]?.args[0].input).toEqual({ Resources: ['i-2'], Tags: [{ Key: OUT_OF_ROTATION_TAG }] });
  });
});
