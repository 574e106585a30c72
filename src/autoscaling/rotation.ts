/**
 * Taking app servers out of the load balancer's rotation and back, for a
 * rolling deploy: the group's health replacement is suspended first (an
 * instance deregistered from its load balancer would otherwise fail the
 * group's ELB health check and be replaced mid-deploy), each batch is
 * deregistered and drained, updated, registered again and waited for until
 * the load balancer says InService.
 */
import { CreateOrUpdateTagsCommand, DeleteTagsCommand, ResumeProcessesCommand, SuspendProcessesCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DeleteTagsCommand as DeleteEc2TagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  RegisterInstancesWithLoadBalancerCommand,
  type ElasticLoadBalancingClient,
  type InstanceState,
} from '@aws-sdk/client-elastic-load-balancing';
import { ArgosError } from '../errors.js';
import { formatDuration } from '../reporter.js';
import { systemClock, waitFor, type BoundedProgress } from '../wait.js';
import { findAutoScalingGroup } from './group.js';

/**
 * The processes a rolling deploy suspends: `HealthCheck` (the group stops
 * marking instances unhealthy) and `ReplaceUnhealthy` (nor replaces them).
 * Launch, Terminate and AddToLoadBalancer keep running, so scaling still
 * works during the deploy (Amazon EC2 Auto Scaling, "Suspend and resume
 * processes": https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html).
 */
export const DEPLOY_SUSPENDED_PROCESSES = ['HealthCheck', 'ReplaceUnhealthy'] as const;

/**
 * The group tag naming the processes an argos run suspended (comma-separated)
 * until it resumes them. A run killed in between (SIGKILL, a lost machine)
 * cannot resume; the next run reads the tag and does, and `status` reports it.
 * Without it, a leftover suspension is indistinguishable from the user's own.
 */
export const SUSPENDED_TAG = 'argos:suspended-processes';

/**
 * Suspends {@link DEPLOY_SUSPENDED_PROCESSES} on the group and returns the
 * ones this call suspended: those the user had already suspended stay
 * suspended after the deploy ({@link resumeHealthReplacement} resumes only these).
 * The group is tagged with them first, so a run killed before resuming leaves a trace.
 */
export async function suspendHealthReplacement(autoScaling: AutoScalingClient, groupName: string): Promise<string[]> {
  const group = await findAutoScalingGroup(autoScaling, groupName);
  if (!group) throw new ArgosError('FAILED', `the autoscaling group ${groupName} is gone: run argos commission first`);
  const already = new Set((group.SuspendedProcesses ?? []).map((suspended) => suspended.ProcessName));
  const toSuspend = DEPLOY_SUSPENDED_PROCESSES.filter((name) => !already.has(name));
  if (toSuspend.length === 0) return [];
  await autoScaling.send(new CreateOrUpdateTagsCommand({ Tags: [{ ResourceId: groupName, ResourceType: 'auto-scaling-group', Key: SUSPENDED_TAG, Value: toSuspend.join(','), PropagateAtLaunch: false }] }));
  await autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: groupName, ScalingProcesses: toSuspend }));
  return toSuspend;
}

/** Resumes what {@link suspendHealthReplacement} suspended, then removes its tag. */
export async function resumeHealthReplacement(autoScaling: AutoScalingClient, groupName: string, processes: readonly string[]): Promise<void> {
  if (processes.length === 0) return;
  await autoScaling.send(new ResumeProcessesCommand({ AutoScalingGroupName: groupName, ScalingProcesses: [...processes] }));
  await autoScaling.send(new DeleteTagsCommand({ Tags: [{ ResourceId: groupName, ResourceType: 'auto-scaling-group', Key: SUSPENDED_TAG }] }));
}

/** The processes a run that did not finish left suspended on `group` (its {@link SUSPENDED_TAG}); empty when none. */
export function findLeftoverSuspension(group: { Tags?: { Key?: string | undefined; Value?: string | undefined }[] | undefined } | undefined): string[] {
  const value = group?.Tags?.find((tag) => tag.Key === SUSPENDED_TAG)?.Value ?? '';
  return value.split(',').filter((name) => name !== '');
}

/**
 * Resumes what a run that did not finish left suspended on the group (its
 * tag), and returns it; empty when nothing was left. Call it holding the
 * environment's lock, before suspending anything: no other run is under way.
 */
export async function resumeLeftoverSuspension(autoScaling: AutoScalingClient, groupName: string): Promise<string[]> {
  const leftover = findLeftoverSuspension(await findAutoScalingGroup(autoScaling, groupName));
  await resumeHealthReplacement(autoScaling, groupName, leftover);
  return leftover;
}

/**
 * The instance tag a rolling deploy sets (to the load balancer's name) before it
 * deregisters an instance, and removes once the instance is registered again. A run
 * killed in between (SIGKILL, a lost machine) cannot register it: the instance would
 * stay out of the load balancer for good, serving nothing, while the group counts it
 * (a Classic Load Balancer routes only to registered instances, and Auto Scaling
 * registers only the instances it launches:
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/attach-load-balancer-asg.html).
 * The next run reads the tag and registers it ({@link restoreLeftoverRotation}); `status` reports it.
 */
export const OUT_OF_ROTATION_TAG = 'argos:out-of-rotation';

/** The clients that take instances out of a load balancer's rotation and back: ELB, and EC2 for the instances' tag. */
export interface RotationClients {
  elb: ElasticLoadBalancingClient;
  ec2: EC2Client;
}

/**
 * Registers again with `loadBalancerName` the instances a run that did not finish
 * left out of rotation (those among `instances` with `outOfRotation`: their
 * {@link OUT_OF_ROTATION_TAG}), which clears the tag, and returns their ids; empty
 * when none, without a call. The health check decides whether they serve, as after
 * a failed batch. Call it holding the environment's lock: no other run is under way.
 */
export async function restoreLeftoverRotation(
  clients: RotationClients,
  instances: readonly { instanceId: string; outOfRotation?: string | undefined }[],
  loadBalancerName: string,
): Promise<string[]> {
  const leftover = instances.filter((instance) => instance.outOfRotation !== undefined).map((instance) => instance.instanceId);
  if (leftover.length > 0) await registerInstances(clients, loadBalancerName, leftover);
  return leftover;
}

export interface RotationTarget {
  loadBalancerName: string;
  instanceIds: readonly string[];
}

/** How long a deregistered instance may drain, beyond the load balancer's connection-draining timeout. */
const DRAIN_SLACK_MS = 30_000;

/**
 * Tags the instances {@link OUT_OF_ROTATION_TAG}, deregisters them and waits
 * until the load balancer no longer lists them: with connection draining on, a deregistering instance is shown
 * InService ("Instance deregistration currently in progress") until its
 * in-flight requests finish or the draining timeout passes
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-conn-drain.html).
 * Bounded by `drainingTimeoutSeconds` plus 30 s.
 */
export async function takeOutOfRotation(
  clients: RotationClients,
  target: RotationTarget,
  drainingTimeoutSeconds: number,
  options: BoundedProgress,
): Promise<void> {
  const { elb } = clients;
  const ids = new Set(target.instanceIds);
  // Tagged first: a run killed from here on leaves a trace the next run acts on.
  await clients.ec2.send(new CreateTagsCommand({ Resources: [...target.instanceIds], Tags: [{ Key: OUT_OF_ROTATION_TAG, Value: target.loadBalancerName }] }));
  await elb.send(
    new DeregisterInstancesFromLoadBalancerCommand({
      LoadBalancerName: target.loadBalancerName,
      Instances: target.instanceIds.map((InstanceId) => ({ InstanceId })),
    }),
  );
  await waitFor(
    async () => {
      const listed = (await describeHealth(elb, target.loadBalancerName)).filter((state) => ids.has(state.InstanceId ?? ''));
      return listed.length === 0 ? { done: true, value: undefined } : { done: false, state: `draining ${listed.map((s) => s.InstanceId).join(', ')}` };
    },
    {
      what: `${[...ids].join(', ')} to drain from ${target.loadBalancerName}`,
      timeoutMs: options.timeoutMs ?? drainingTimeoutSeconds * 1000 + DRAIN_SLACK_MS,
      intervalMs: 1_000,
      maxIntervalMs: 5_000,
      signal: options.signal,
      onPoll: options.onProgress,
      clock: options.clock,
    },
  );
}

/**
 * Registers the instances again and waits until the load balancer says each
 * is InService (the health check passed `HealthyThreshold` times in a row).
 * The timeout (`timeoutMs`, which the caller derives from the health check)
 * names each instance that is not, with the load balancer's reason, the
 * check, and where to look.
 */
export async function putBackInRotation(
  clients: RotationClients,
  target: RotationTarget & { healthCheckTarget: string; /** What to look at, named in the timeout (the journal over SSH, status). */ advice: string },
  options: BoundedProgress,
): Promise<void> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  await registerInstances(clients, target.loadBalancerName, target.instanceIds);
  let lastSeen = '';
  try {
    await waitFor(
      async () => {
        const states = new Map((await describeHealth(clients.elb, target.loadBalancerName, target.instanceIds)).map((s) => [s.InstanceId ?? '', s]));
        const waiting = target.instanceIds.filter((id) => states.get(id)?.State !== 'InService');
        lastSeen = waiting.map((id) => `${id} ${describeState(states.get(id))}`).join('; ');
        return waiting.length === 0 ? { done: true, value: undefined } : { done: false, state: `waiting for ${lastSeen}` };
      },
      {
        what: `${target.instanceIds.join(', ')} to be InService behind ${target.loadBalancerName}`,
        timeoutMs: options.timeoutMs ?? 5 * 60_000,
        intervalMs: 1_000,
        maxIntervalMs: 5_000,
        signal: options.signal,
        onPoll: options.onProgress,
        clock: options.clock,
      },
    );
  } catch (error) {
    if (!(error instanceof ArgosError) || error.code !== 'TIMEOUT') throw error;
    throw new ArgosError(
      'TIMEOUT',
      `after ${formatDuration(clock.now() - started)} the load balancer ${target.loadBalancerName} still does not route to ${lastSeen}: ` +
        `they fail its health check ${target.healthCheckTarget}. ${target.advice}`,
      { cause: error },
    );
  }
}

/**
 * Registers the instances with the load balancer, without waiting (it routes to
 * them once they pass its health check), then removes their {@link OUT_OF_ROTATION_TAG}.
 */
export async function registerInstances(clients: RotationClients, loadBalancerName: string, instanceIds: readonly string[]): Promise<void> {
  await clients.elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: loadBalancerName, Instances: instanceIds.map((InstanceId) => ({ InstanceId })) }));
  await clients.ec2.send(new DeleteEc2TagsCommand({ Resources: [...instanceIds], Tags: [{ Key: OUT_OF_ROTATION_TAG }] }));
}

/** The registered instances the load balancer does not report InService (one DescribeInstanceHealth call). */
export async function readNotInService(elb: ElasticLoadBalancingClient, loadBalancerName: string): Promise<Set<string>> {
  const states = await describeHealth(elb, loadBalancerName);
  return new Set(states.filter((state) => state.State !== 'InService').map((state) => state.InstanceId ?? ''));
}

/** The health the load balancer reports (every registered instance, or `instanceIds`). */
async function describeHealth(elb: ElasticLoadBalancingClient, name: string, instanceIds?: readonly string[]): Promise<InstanceState[]> {
  const response = await elb.send(
    new DescribeInstanceHealthCommand({ LoadBalancerName: name, ...(instanceIds ? { Instances: instanceIds.map((InstanceId) => ({ InstanceId })) } : {}) }),
  );
  return response.InstanceStates ?? [];
}

function describeState(state: InstanceState | undefined): string {
  if (!state) return 'not registered';
  return `${state.State ?? 'Unknown'}${state.Description && state.Description !== 'N/A' ? ` (${state.Description})` : ''}`;
}
