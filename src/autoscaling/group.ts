/**
 * An environment's autoscaling group: the app servers' `<app>-<env>-app`
 * (behind the load balancer, ELB health) or the workers' `<app>-<env>-worker`
 * (no load balancer, EC2 health): found, created or converged to the spec, and
 * deleted together with its instances.
 */
import {
  AttachLoadBalancersCommand,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingClient,
  type AutoScalingGroup,
  type UpdateAutoScalingGroupCommandInput,
} from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { AUTO_SCALING_ERRORS } from '../aws/error-codes.js';
import { NOT_TERMINATED_STATES } from '../aws/instance-states.js';
import { findInstances } from '../aws/instances.js';
import { ArgosError } from '../errors.js';
import { makeTags, toAutoScalingTags, type EnvNames } from '../names.js';
import { classify, ownedOrThrow, type Conflict, type Lookup } from '../ownership.js';
import { catchCodes, hasErrorCode, retryOnCodes, waitFor, type BoundedProgress, type Progress } from '../wait.js';
import { tierGroupName, type AppServerClients, type AppServersSpec, type EnsureResult, type Tier } from './types.js';

/** The parts of the spec the group is made of, plus the template it launches from. */
export type AutoScalingGroupSpec = Pick<AppServersSpec, 'names' | 'instanceSubnets' | 'minSize' | 'maxSize' | 'desiredCapacity'> & {
  launchTemplateName: string;
  /** The app servers' group (the default) or the workers'. */
  tier?: Tier | undefined;
};

/** The group gone and its instances terminated. */
export const GROUP_DELETE_TIMEOUT_MS = 15 * 60_000;
/** Seconds after launch before the load balancer's verdict counts: time for the app to boot. */
export const HEALTH_CHECK_GRACE_PERIOD_SECONDS = 300;
/**
 * How a tier's group checks health: the app servers through the load balancer
 * (an instance whose app does not answer is replaced); workers, with no load
 * balancer, by EC2's status checks (the worker service's own state is
 * systemd's: `Restart=always`, playbooks/roles/worker).
 */
function healthCheckTypeOf(tier: Tier): 'ELB' | 'EC2' {
  return tier === 'worker' ? 'EC2' : 'ELB';
}

/** Scale-in removes instances of an older template first, so a re-sized group converges to the new settings. */
const TERMINATION_POLICIES = ['OldestLaunchTemplate', 'Default'];

/** The group called `name`, or `undefined` when there is none. */
export async function findAutoScalingGroup(autoScaling: AutoScalingClient, name: string): Promise<AutoScalingGroup | undefined> {
  const response = await autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return response.AutoScalingGroups?.find((group) => group.AutoScalingGroupName === name);
}

/**
 * The environment's group of `tier` (`<app>-<env>-app` by default), checked by
 * its tags: a group of that name made for another app or environment is a conflict, never ours.
 */
export async function lookupAutoScalingGroup(autoScaling: AutoScalingClient, names: EnvNames, tier: Tier = 'app'): Promise<Lookup<AutoScalingGroup>> {
  const name = tierGroupName(names, tier);
  const group = await findAutoScalingGroup(autoScaling, name);
  return classify(group, { what: 'autoscaling group', name, tags: group?.Tags }, { app: names.app, env: names.env, group: tier });
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
  const tier = spec.tier ?? 'app';
  const name = tierGroupName(spec.names, tier);
  // moto (and only moto) silently replaces a group on a second create: always look first.
  // Another app's group of the same name is refused, never converged.
  const existing = ownedOrThrow(await lookupAutoScalingGroup(autoScaling, spec.names, tier), spec.names);
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
        ...(tier === 'app' ? { LoadBalancerNames: [spec.names.loadBalancer] } : {}),
        HealthCheckType: healthCheckTypeOf(tier),
        HealthCheckGracePeriod: HEALTH_CHECK_GRACE_PERIOD_SECONDS,
        TerminationPolicies: TERMINATION_POLICIES,
        Tags: toAutoScalingTags(name, makeTags({ app: spec.names.app, env: spec.names.env, group: tier }, name)),
      }),
    );
    return { name, created: true, changes: [] };
  } catch (error) {
    if (!hasErrorCode(error, AUTO_SCALING_ERRORS.alreadyExists)) throw error;
    // Created meanwhile (another run, or a retried call that did succeed): converge it like any existing group.
    const raced = ownedOrThrow(await lookupAutoScalingGroup(autoScaling, spec.names, tier), spec.names);
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

function subnetList(spec: Pick<AutoScalingGroupSpec, 'instanceSubnets'>): string {
  return spec.instanceSubnets.map((subnet) => subnet.subnetId).join(',');
}

/** How an existing group differs from `spec`: the update that fixes it, and each difference in words. */
export interface GroupDiff {
  /** UpdateAutoScalingGroup's input; only the name when nothing differs. */
  update: UpdateAutoScalingGroupCommandInput;
  attachLoadBalancer: boolean;
  changes: string[];
}

/** Compares an existing group with `spec` (no call). */
export function diffAutoScalingGroup(group: AutoScalingGroup, spec: AutoScalingGroupSpec): GroupDiff {
  const tier = spec.tier ?? 'app';
  const name = tierGroupName(spec.names, tier);
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
  const wantedSubnets = spec.instanceSubnets.map((subnet) => subnet.subnetId);
  if (subnets.size !== wantedSubnets.length || wantedSubnets.some((id) => !subnets.has(id))) {
    update.VPCZoneIdentifier = subnetList(spec);
    changes.push(`subnets → ${wantedSubnets.join(', ')}`);
  }
  const healthCheckType = healthCheckTypeOf(tier);
  if (group.HealthCheckType !== healthCheckType || group.HealthCheckGracePeriod !== HEALTH_CHECK_GRACE_PERIOD_SECONDS) {
    update.HealthCheckType = healthCheckType;
    update.HealthCheckGracePeriod = HEALTH_CHECK_GRACE_PERIOD_SECONDS;
    changes.push(`health check ${group.HealthCheckType ?? 'none'} → ${healthCheckType} (grace ${HEALTH_CHECK_GRACE_PERIOD_SECONDS}s)`);
  }
  if ((group.TerminationPolicies ?? []).join(',') !== TERMINATION_POLICIES.join(',')) {
    update.TerminationPolicies = TERMINATION_POLICIES;
    changes.push(`termination policies → ${TERMINATION_POLICIES.join(', ')}`);
  }
  // Workers have no load balancer.
  const attachLoadBalancer = tier === 'app' && !(group.LoadBalancerNames ?? []).includes(spec.names.loadBalancer);
  if (attachLoadBalancer) changes.push(`load balancer ${spec.names.loadBalancer} attached`);
  return { update, attachLoadBalancer, changes };
}

async function converge(autoScaling: AutoScalingClient, group: AutoScalingGroup, spec: AutoScalingGroupSpec): Promise<string[]> {
  const name = tierGroupName(spec.names, spec.tier ?? 'app');
  if (group.Status?.startsWith('Delete')) {
    throw new ArgosError(
      'FAILED',
      `the autoscaling group ${name} is being deleted: wait for that to finish (argos ${spec.names.env} status), then run the command again`,
    );
  }
  const diff = diffAutoScalingGroup(group, spec);
  if (Object.keys(diff.update).length > 1) await autoScaling.send(new UpdateAutoScalingGroupCommand(diff.update));
  if (diff.attachLoadBalancer) {
    await autoScaling.send(new AttachLoadBalancersCommand({ AutoScalingGroupName: name, LoadBalancerNames: [spec.names.loadBalancer] }));
  }
  return diff.changes;
}

/** What {@link deleteAutoScalingGroup} did. */
export interface GroupDeleteResult {
  existed: boolean;
  /** Instances of the group that were terminated (or still terminating when the call began). */
  instanceIds: string[];
  /** A group of that name that is not this environment's: left alone. */
  conflict?: Conflict;
}

/**
 * Deletes the group with force (its instances are terminated with it), then
 * waits until the group is gone and no instance of it is left. Succeeds when
 * it is already gone, and still waits for instances a cut-short earlier run left.
 */
export async function deleteAutoScalingGroup(
  clients: Pick<AppServerClients, 'ec2' | 'autoScaling'>,
  names: EnvNames,
  options: BoundedProgress,
  tier: Tier = 'app',
): Promise<GroupDeleteResult> {
  const name = tierGroupName(names, tier);
  const lookup = await lookupAutoScalingGroup(clients.autoScaling, names, tier);
  // Another app's group (and its instances) under our name is never deleted.
  if (lookup.kind === 'conflict') return { existed: false, instanceIds: [], conflict: lookup.conflict };
  const group = lookup.kind === 'owned' ? lookup.resource : undefined;
  let existed = false;
  if (group) {
    existed = true;
    if (!group.Status?.startsWith('Delete')) {
      options.onProgress?.(`deleting the autoscaling group ${name} and its instances`);
      // "AutoScalingGroup name not found" (deleted between the lookup and the call) counts as deleted.
      await catchCodes(
        () =>
          retryOnCodes(
            () => clients.autoScaling.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true })),
            AUTO_SCALING_ERRORS.busy,
            { what: `the group ${name} to accept its deletion`, timeoutMs: 5 * 60_000, signal: options.signal, clock: options.clock },
          ),
        AUTO_SCALING_ERRORS.notFound,
        undefined,
      );
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

/** Instances the group launched that are not terminated yet, by the tag autoscaling puts on each. */
async function findGroupInstances(ec2: EC2Client, groupName: string): Promise<string[]> {
  const instances = await findInstances(ec2, [{ Name: 'tag:aws:autoscaling:groupName', Values: [groupName] }], NOT_TERMINATED_STATES);
  return instances.map((instance) => instance.instanceId);
}

