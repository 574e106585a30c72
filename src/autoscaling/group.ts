/**
 * The app servers' autoscaling group, `<app>-<env>-app`, its CPU
 * target-tracking policy, and the waits on its instances.
 */
import {
  AttachLoadBalancersCommand,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribePoliciesCommand,
  PutScalingPolicyCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingClient,
  type AutoScalingGroup,
  type UpdateAutoScalingGroupCommandInput,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DescribeInstanceHealthCommand, type ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { ArgosError } from '../errors.js';
import { makeTags, toAutoScalingTags, type EnvNames } from '../names.js';
import { formatDuration } from '../reporter.js';
import { errorCode, retryOnCodes, systemClock, waitFor, type BoundedProgress, type Progress } from '../wait.js';
import type { AppServersSpec, EnsureResult } from './types.js';

/** The parts of the spec the group is made of, plus the template it launches from. */
export type AutoScalingGroupSpec = Pick<AppServersSpec, 'names' | 'subnets' | 'minSize' | 'maxSize' | 'desiredCapacity'> & {
  launchTemplateName: string;
};

/** Instances InService behind the load balancer: the bound the safety notes promise (at least 15 minutes). */
export const IN_SERVICE_TIMEOUT_MS = 15 * 60_000;
/** The group gone and its instances terminated. */
export const GROUP_DELETE_TIMEOUT_MS = 15 * 60_000;
/** Seconds after launch before the load balancer's verdict counts: time for the app to boot. */
export const HEALTH_CHECK_GRACE_PERIOD_SECONDS = 300;
/** Scale-in removes instances of an older template first, so a re-sized group converges to the new settings. */
const TERMINATION_POLICIES = ['OldestLaunchTemplate', 'Default'];
/** The instance states that still count as "there". */
const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

/** The wire code, and the SDK's exception name (what mocks raise). */
const ALREADY_EXISTS = ['AlreadyExists', 'AlreadyExistsFault'];
const BUSY = ['ScalingActivityInProgress', 'ScalingActivityInProgressFault', 'ResourceInUse', 'ResourceInUseFault'];

/** The policy's name: policy names are unique per region, so it carries the group's name. */
export function scalingPolicyName(names: EnvNames): string {
  return `${names.appServers}-cpu-target`;
}

/** The group called `name`, or `undefined` when there is none. */
export async function findAutoScalingGroup(autoScaling: AutoScalingClient, name: string): Promise<AutoScalingGroup | undefined> {
  const response = await autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return response.AutoScalingGroups?.find((group) => group.AutoScalingGroupName === name);
}

/**
 * Makes sure the group exists as `spec` says. A new group launches from the
 * template into every subnet, registers with the load balancer, checks health
 * through it and propagates the standard tags. An existing group is updated
 * (template, sizes, subnets, health check, load balancer) and each change is
 * reported; its desired capacity is left to the scaling policy unless it falls
 * outside the new sizes or `desiredCapacity` pins it.
 */
export async function ensureAutoScalingGroup(
  autoScaling: AutoScalingClient,
  spec: AutoScalingGroupSpec,
  options: Pick<Progress, 'onProgress'> = {},
): Promise<EnsureResult> {
  const name = spec.names.appServers;
  // moto (and only moto) silently replaces a group on a second create: always look first.
  const existing = await findAutoScalingGroup(autoScaling, name);
  if (existing) return { name, created: false, changes: await converge(autoScaling, existing, spec) };
  options.onProgress?.(`creating the autoscaling group ${name}`);
  try {
    await autoScaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        LaunchTemplate: { LaunchTemplateName: spec.launchTemplateName, Version: '$Default' },
        MinSize: spec.minSize,
        MaxSize: spec.maxSize,
        DesiredCapacity: spec.desiredCapacity ?? spec.minSize,
        VPCZoneIdentifier: subnetList(spec),
        LoadBalancerNames: [spec.names.loadBalancer],
        HealthCheckType: 'ELB',
        HealthCheckGracePeriod: HEALTH_CHECK_GRACE_PERIOD_SECONDS,
        TerminationPolicies: TERMINATION_POLICIES,
        Tags: toAutoScalingTags(name, makeTags({ app: spec.names.app, env: spec.names.env, group: 'app' }, name)),
      }),
    );
    return { name, created: true, changes: [] };
  } catch (error) {
    if (!ALREADY_EXISTS.includes(errorCode(error) ?? '')) throw error;
    // Created meanwhile (another run, or a retried call that did succeed): converge it like any existing group.
    const raced = await findAutoScalingGroup(autoScaling, name);
    if (!raced) throw error;
    return { name, created: false, changes: await converge(autoScaling, raced, spec) };
  }
}

/** The desired capacity an existing group should have, or `undefined` to leave it. */
function wantedDesired(group: AutoScalingGroup, spec: AutoScalingGroupSpec): number | undefined {
  const current = group.DesiredCapacity ?? 0;
  const wanted = spec.desiredCapacity ?? Math.min(Math.max(current, spec.minSize), spec.maxSize);
  return wanted === current ? undefined : wanted;
}

function subnetList(spec: Pick<AutoScalingGroupSpec, 'subnets'>): string {
  return spec.subnets.map((subnet) => subnet.subnetId).join(',');
}

async function converge(autoScaling: AutoScalingClient, group: AutoScalingGroup, spec: AutoScalingGroupSpec): Promise<string[]> {
  const name = spec.names.appServers;
  if (group.Status?.startsWith('Delete')) {
    throw new ArgosError(
      'FAILED',
      `the autoscaling group ${name} is being deleted: wait for that to finish (argos ${spec.names.env} status), then run the command again`,
    );
  }
  const update: UpdateAutoScalingGroupCommandInput = { AutoScalingGroupName: name };
  const changes: string[] = [];
  const current = group.LaunchTemplate?.LaunchTemplateName;
  if (current !== spec.launchTemplateName || group.LaunchTemplate?.Version !== '$Default') {
    update.LaunchTemplate = { LaunchTemplateName: spec.launchTemplateName, Version: '$Default' };
    changes.push(`launch template ${current ?? 'none'} → ${spec.launchTemplateName}`);
  }
  if (group.MinSize !== spec.minSize) {
    update.MinSize = spec.minSize;
    changes.push(`min size ${group.MinSize} → ${spec.minSize}`);
  }
  if (group.MaxSize !== spec.maxSize) {
    update.MaxSize = spec.maxSize;
    changes.push(`max size ${group.MaxSize} → ${spec.maxSize}`);
  }
  const desired = wantedDesired(group, spec);
  if (desired !== undefined) {
    update.DesiredCapacity = desired;
    changes.push(`desired capacity ${group.DesiredCapacity} → ${desired}`);
  }
  const subnets = new Set((group.VPCZoneIdentifier ?? '').split(',').filter((id) => id !== ''));
  const wantedSubnets = spec.subnets.map((subnet) => subnet.subnetId);
  if (subnets.size !== wantedSubnets.length || wantedSubnets.some((id) => !subnets.has(id))) {
    update.VPCZoneIdentifier = subnetList(spec);
    changes.push(`subnets → ${wantedSubnets.join(', ')}`);
  }
  if (group.HealthCheckType !== 'ELB' || group.HealthCheckGracePeriod !== HEALTH_CHECK_GRACE_PERIOD_SECONDS) {
    update.HealthCheckType = 'ELB';
    update.HealthCheckGracePeriod = HEALTH_CHECK_GRACE_PERIOD_SECONDS;
    changes.push(`health check ${group.HealthCheckType ?? 'none'} → ELB (grace ${HEALTH_CHECK_GRACE_PERIOD_SECONDS}s)`);
  }
  if ((group.TerminationPolicies ?? []).join(',') !== TERMINATION_POLICIES.join(',')) {
    update.TerminationPolicies = TERMINATION_POLICIES;
    changes.push(`termination policies → ${TERMINATION_POLICIES.join(', ')}`);
  }
  if (Object.keys(update).length > 1) await autoScaling.send(new UpdateAutoScalingGroupCommand(update));
  if (!(group.LoadBalancerNames ?? []).includes(spec.names.loadBalancer)) {
    await autoScaling.send(new AttachLoadBalancersCommand({ AutoScalingGroupName: name, LoadBalancerNames: [spec.names.loadBalancer] }));
    changes.push(`load balancer ${spec.names.loadBalancer} attached`);
  }
  return changes;
}

/**
 * Makes sure the group has its target-tracking policy on average CPU at
 * `scalingTargetCpu` percent (PutScalingPolicy only when missing or different).
 */
export async function ensureScalingPolicy(
  autoScaling: AutoScalingClient,
  spec: Pick<AppServersSpec, 'names' | 'scalingTargetCpu'>,
): Promise<EnsureResult> {
  const name = scalingPolicyName(spec.names);
  const group = spec.names.appServers;
  const found = (await autoScaling.send(new DescribePoliciesCommand({ AutoScalingGroupName: group, PolicyNames: [name] })))
    .ScalingPolicies?.[0];
  const config = found?.TargetTrackingConfiguration;
  const matches =
    found?.PolicyType === 'TargetTrackingScaling' &&
    config?.PredefinedMetricSpecification?.PredefinedMetricType === 'ASGAverageCPUUtilization' &&
    config.TargetValue === spec.scalingTargetCpu;
  if (matches) return { name, created: false, changes: [] };
  await autoScaling.send(
    new PutScalingPolicyCommand({
      AutoScalingGroupName: group,
      PolicyName: name,
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' },
        TargetValue: spec.scalingTargetCpu,
      },
    }),
  );
  if (!found) return { name, created: true, changes: [] };
  return { name, created: false, changes: [`CPU target ${config?.TargetValue ?? 'none'}% → ${spec.scalingTargetCpu}%`] };
}

/** What {@link waitForInService} waits for. */
export interface InServiceTarget {
  groupName: string;
  loadBalancerName: string;
  /** How many instances must be in service. */
  count: number;
  /** Instances that do not count (those being replaced). */
  exclude?: readonly string[] | undefined;
  /** The load balancer's health-check target (`HTTP:8000/health`), named in the timeout message. */
  healthCheckTarget?: string | undefined;
}

/**
 * Waits until at least `count` instances of the group are InService and
 * healthy in the group and InService behind the load balancer; returns their
 * ids, sorted. Bounded (15 minutes unless `timeoutMs` says otherwise) and
 * abortable; the timeout error names each instance and its health.
 */
export async function waitForInService(
  autoScaling: AutoScalingClient,
  elb: ElasticLoadBalancingClient,
  target: InServiceTarget,
  options: BoundedProgress,
): Promise<string[]> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const timeoutMs = options.timeoutMs ?? IN_SERVICE_TIMEOUT_MS;
  const exclude = new Set(target.exclude ?? []);
  let lastSeen = 'no instance launched yet';
  const check = async (): Promise<{ done: true; value: string[] } | { done: false; state: string }> => {
    const group = await findAutoScalingGroup(autoScaling, target.groupName);
    if (!group) {
      throw new ArgosError('FAILED', `the autoscaling group ${target.groupName} disappeared while waiting for its instances: run the command again`);
    }
    const instances = (group.Instances ?? []).filter((instance) => instance.InstanceId && !exclude.has(instance.InstanceId));
    // One call for every instance the load balancer knows; instances not registered yet are simply absent.
    const health = new Map(
      (await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: target.loadBalancerName }))).InstanceStates?.map(
        (state) => [state.InstanceId ?? '', state],
      ) ?? [],
    );
    const ready: string[] = [];
    const described: string[] = [];
    for (const instance of instances) {
      const id = instance.InstanceId ?? '';
      const atElb = health.get(id);
      const inGroup = instance.LifecycleState === 'InService' && instance.HealthStatus === 'Healthy';
      if (inGroup && atElb?.State === 'InService') ready.push(id);
      const elbState = atElb
        ? `${atElb.State ?? 'Unknown'}${atElb.Description && atElb.Description !== 'N/A' ? ` (${atElb.Description})` : ''}`
        : 'not registered';
      described.push(`${id} group ${instance.LifecycleState ?? '?'}/${instance.HealthStatus ?? '?'}, load balancer ${elbState}`);
    }
    if (ready.length >= target.count) return { done: true, value: ready.sort() };
    lastSeen = described.length > 0 ? described.join('; ') : 'no instance launched yet';
    return { done: false, state: `${ready.length} of ${target.count} in service: ${lastSeen}` };
  };
  try {
    return await waitFor(check, {
      what: `${target.count} instance(s) of ${target.groupName} to be in service behind ${target.loadBalancerName}`,
      timeoutMs,
      intervalMs: 10_000,
      maxIntervalMs: 30_000,
      signal: options.signal,
      onPoll: options.onProgress,
      clock: options.clock,
    });
  } catch (error) {
    if (!(error instanceof ArgosError) || error.code !== 'TIMEOUT') throw error;
    const check = target.healthCheckTarget ? ` (${target.healthCheckTarget})` : '';
    throw new ArgosError(
      'TIMEOUT',
      `timed out after ${formatDuration(clock.now() - started)}: fewer than ${target.count} instance(s) of ${target.groupName} ` +
        `are in service behind ${target.loadBalancerName}. Last seen: ${lastSeen}. ` +
        `Check that the app answers the load balancer's health check${check} with HTTP 200 on the instances ` +
        '(see the app log there), then run the command again: it picks up where it stopped',
      { cause: error },
    );
  }
}

/**
 * Replaces instances launched from another template than the group's own:
 * the group first grows by their number (its max raised for the while), the
 * new instances come into service, then the old ones are terminated with the
 * capacity decremented, so the app never runs on fewer instances than before.
 * Returns the ids replaced.
 */
export async function replaceOutdatedInstances(
  clients: { ec2: EC2Client; autoScaling: AutoScalingClient; elb: ElasticLoadBalancingClient },
  target: { names: EnvNames; launchTemplateId: string; healthCheckTarget?: string | undefined },
  options: BoundedProgress,
): Promise<string[]> {
  const name = target.names.appServers;
  const group = await findAutoScalingGroup(clients.autoScaling, name);
  if (!group) return [];
  const outdated = await findOutdatedInstances(clients.ec2, group, target.launchTemplateId);
  if (outdated.length === 0) return [];
  const desired = group.DesiredCapacity ?? 0;
  const maxSize = group.MaxSize ?? desired;
  const surge = desired + outdated.length;
  options.onProgress?.(`replacing ${outdated.length} instance(s) on the previous template: ${outdated.join(', ')}`);
  await clients.autoScaling.send(
    new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, DesiredCapacity: surge, MaxSize: Math.max(maxSize, surge) }),
  );
  await waitForInService(
    clients.autoScaling,
    clients.elb,
    { groupName: name, loadBalancerName: target.names.loadBalancer, count: desired, exclude: outdated, healthCheckTarget: target.healthCheckTarget },
    options,
  );
  for (const instanceId of outdated) {
    try {
      await retryOnCodes(
        () =>
          clients.autoScaling.send(
            new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: true }),
          ),
        BUSY,
        { what: `the group ${name} to let ${instanceId} go`, timeoutMs: 5 * 60_000, signal: options.signal, clock: options.clock },
      );
    } catch (error) {
      // Already gone (terminated by hand, or a scale-in got there first).
      if (errorCode(error) !== 'ValidationError') throw error;
    }
  }
  if (maxSize < surge) {
    await clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, MaxSize: maxSize }));
  }
  return outdated;
}

/**
 * The group's live instances launched from another template, read from the
 * `aws:ec2launchtemplate:id` tag EC2 puts on each (one call for all of them).
 * The tag, not the group's per-instance field: moto reports the group's current
 * template there for every instance.
 */
async function findOutdatedInstances(ec2: EC2Client, group: AutoScalingGroup, launchTemplateId: string): Promise<string[]> {
  const ids = (group.Instances ?? []).map((instance) => instance.InstanceId).filter((id): id is string => id !== undefined);
  if (ids.length === 0) return [];
  const response = await ec2.send(
    new DescribeInstancesCommand({ InstanceIds: ids, Filters: [{ Name: 'instance-state-name', Values: LIVE_STATES }] }),
  );
  const outdated: string[] = [];
  for (const instance of (response.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])) {
    const launchedFrom = instance.Tags?.find((tag) => tag.Key === 'aws:ec2launchtemplate:id')?.Value;
    if (instance.InstanceId && launchedFrom !== launchTemplateId) outdated.push(instance.InstanceId);
  }
  return outdated.sort();
}

/** What {@link deleteAutoScalingGroup} did. */
export interface GroupDeleteResult {
  existed: boolean;
  /** Instances of the group that were terminated (or still terminating when the call began). */
  instanceIds: string[];
}

/**
 * Deletes the group with force (its instances are terminated with it), then
 * waits until the group is gone and no instance of it is left. Succeeds when
 * it is already gone, and still waits for instances a cut-short earlier run left.
 */
export async function deleteAutoScalingGroup(
  clients: { ec2: EC2Client; autoScaling: AutoScalingClient },
  names: EnvNames,
  options: BoundedProgress,
): Promise<GroupDeleteResult> {
  const name = names.appServers;
  const group = await findAutoScalingGroup(clients.autoScaling, name);
  let existed = false;
  if (group) {
    existed = true;
    if (!group.Status?.startsWith('Delete')) {
      options.onProgress?.(`deleting the autoscaling group ${name} and its instances`);
      try {
        await retryOnCodes(
          () => clients.autoScaling.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true })),
          BUSY,
          { what: `the group ${name} to accept its deletion`, timeoutMs: 5 * 60_000, signal: options.signal, clock: options.clock },
        );
      } catch (error) {
        // "AutoScalingGroup name not found": deleted between the lookup and the call.
        if (errorCode(error) !== 'ValidationError') throw error;
      }
    }
  }
  const seen = new Set((group?.Instances ?? []).map((instance) => instance.InstanceId ?? '').filter((id) => id !== ''));
  await waitFor(
    async () => {
      const [stillThere, live] = await Promise.all([findAutoScalingGroup(clients.autoScaling, name), findGroupInstances(clients.ec2, name)]);
      for (const id of live) seen.add(id);
      if (!stillThere && live.length === 0) return { done: true, value: undefined };
      const parts = [stillThere ? `group ${stillThere.Status ?? 'still there'}` : 'group gone'];
      if (live.length > 0) parts.push(`instances not terminated yet: ${live.join(', ')}`);
      return { done: false, state: parts.join('; ') };
    },
    {
      what: `the autoscaling group ${name} and its instances to be deleted`,
      timeoutMs: options.timeoutMs ?? GROUP_DELETE_TIMEOUT_MS,
      intervalMs: 5_000,
      signal: options.signal,
      onPoll: options.onProgress,
      clock: options.clock,
    },
  );
  return { existed, instanceIds: [...seen].sort() };
}

/** Live instances the group launched, by the tag autoscaling puts on each (one call). */
async function findGroupInstances(ec2: EC2Client, groupName: string): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const response = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:aws:autoscaling:groupName', Values: [groupName] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
        NextToken: token,
      }),
    );
    for (const instance of (response.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])) {
      if (instance.InstanceId) ids.push(instance.InstanceId);
    }
    token = response.NextToken;
  } while (token);
  return ids.sort();
}
