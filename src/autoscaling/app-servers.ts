/**
 * The app servers of one environment, end to end: a launch template, a
 * classic load balancer and an autoscaling group with a CPU target-tracking
 * policy. `ensureAppServers` builds or converges all of it in the order each
 * part needs the one before; `deleteAppServers` removes it in the order AWS
 * needs (group and instances, templates, load balancer).
 */
import { UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import type { ResponseLaunchTemplateData } from '@aws-sdk/client-ec2';
import { ArgosError } from '../errors.js';
import type { EnvNames } from '../names.js';
import { ownedOrThrow, type Conflict } from '../ownership.js';
import { INSTANCE_RUNNING_TIMEOUT_MS, waitForInstancesRunning } from '../aws/instances.js';
import { throwIfInterrupted, waitFor, type BoundedProgress, type Progress } from '../wait.js';
import { deleteAutoScalingGroup, diffAutoScalingGroup, ensureAutoScalingGroup, findAutoScalingGroup, lookupAutoScalingGroup } from './group.js';
import { waitForInService, type InspectAccess } from './in-service.js';
import { deleteLaunchTemplates, ensureLaunchTemplate, findLaunchTemplate, findLaunchTemplateData, planLaunchTemplate, type LaunchTemplateResult } from './launch-template.js';
import { buildHealthCheck, deleteLoadBalancer, ensureLoadBalancer, urlOf, type LoadBalancerResult } from './load-balancer.js';
import { findOutdatedInstances, replaceOutdatedInstances } from './replace-instances.js';
import { ensureScalingPolicy, planScalingPolicy } from './scaling-policy.js';
import { tierGroupName, type AppServerClients, type AppServersSpec, type EnsureResult, type Tier } from './types.js';

/** The settings of the app servers a commission flag can change. */
export type AppServerSettings = Pick<AppServersSpec, 'minSize' | 'maxSize' | 'instanceType'>;

/**
 * The settings the app servers (or, with `tier`, the workers) run with now:
 * the group's sizes and the instance type of the template it launches from
 * (`undefined` when that template is gone). `undefined` when there is no group yet.
 */
export async function findAppServerSettings(
  clients: Pick<AppServerClients, 'ec2' | 'autoScaling'>,
  names: EnvNames,
  tier: Tier = 'app',
): Promise<(Omit<AppServerSettings, 'instanceType'> & { instanceType: string | undefined }) | undefined> {
  // Another app's group of that name has no settings of ours to keep: refused, as everywhere.
  const group = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names, tier), names);
  if (!group) return undefined;
  const template = group.LaunchTemplate?.LaunchTemplateName;
  const data = template === undefined ? undefined : await findLaunchTemplateData(clients.ec2, template);
  return { minSize: group.MinSize ?? 0, maxSize: group.MaxSize ?? 0, instanceType: data?.InstanceType };
}

/** The launch settings the group's instances (default: the app servers') launch with now, or `undefined` (no group, or its template gone). */
export async function findAppServerLaunchData(
  clients: Pick<AppServerClients, 'ec2' | 'autoScaling'>,
  names: EnvNames,
  tier: Tier = 'app',
): Promise<ResponseLaunchTemplateData | undefined> {
  const group = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names, tier), names);
  const template = group?.LaunchTemplate?.LaunchTemplateName;
  return template === undefined ? undefined : findLaunchTemplateData(clients.ec2, template);
}

/** What {@link ensureAppServers} did, part by part. */
export interface AppServersResult {
  launchTemplate: LaunchTemplateResult;
  loadBalancer: LoadBalancerResult;
  group: EnsureResult;
  scalingPolicy: EnsureResult;
  /** Instances launched from an earlier template, replaced by this run. */
  replacedInstanceIds: string[];
  /** Earlier templates deleted once the group had moved off them. */
  deletedLaunchTemplates: string[];
  /** Instances in service behind the load balancer at the end, sorted. */
  instanceIds: string[];
  /** `https://` (with a certificate) or `http://<load balancer DNS name>`: where the app is reached. */
  url: string;
}

/**
 * Builds the app servers of `spec`, or converges existing ones to it: the
 * launch template for the current settings, the load balancer, the group
 * (pointed at that template) and its scaling policy; replaces instances still
 * on an earlier template, deletes templates no longer used, and waits until at
 * least `minSize` instances are in service behind the load balancer
 * (`timeoutMs`, default 15 minutes).
 */
export async function ensureAppServers(
  clients: AppServerClients,
  spec: AppServersSpec,
  options: BoundedProgress & {
    /**
     * False when the instances cannot pass the health check yet (launched from
     * the base image, no app): then neither the wait nor a replacement (whose
     * surge waits for the new instances to serve) is made.
     */
    appOnInstances?: boolean;
  },
): Promise<AppServersResult> {
  const appOnInstances = options.appOnInstances ?? true;
  const { names } = spec;
  const before = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names), names);
  const launchTemplate = await ensureLaunchTemplate(clients.ec2, spec, { previous: before?.LaunchTemplate?.LaunchTemplateName });
  throwIfInterrupted(options.signal);
  const loadBalancer = await ensureLoadBalancer(clients.elb, spec, options);
  throwIfInterrupted(options.signal);
  const group = await ensureAutoScalingGroup(clients.autoScaling, { ...spec, launchTemplateName: launchTemplate.name }, options);
  const scalingPolicy = await ensureScalingPolicy(clients.autoScaling, spec);
  throwIfInterrupted(options.signal);
  const healthCheckTarget = buildHealthCheck(spec).Target;
  const replacedInstanceIds = group.created || !appOnInstances
    ? []
    : await replaceOutdatedInstances(clients, { names, launchTemplateId: launchTemplate.id, healthCheckTarget, inspect: spec.inspect }, options);
  // Only now that no group launches from them: instances still running an old
  // template keep running, a template is not needed after launch.
  const deletedLaunchTemplates = await deleteLaunchTemplates(clients.ec2, names, { keep: launchTemplate.name });
  // Never wait for the load balancer's health before the app is on the instances.
  const instanceIds = appOnInstances
    ? await waitForInService(
        clients.autoScaling,
        clients.elb,
        { groupName: names.appServers, loadBalancerName: names.loadBalancer, count: spec.minSize, healthCheckTarget, inspect: spec.inspect },
        options,
      )
    : await findGroupInstanceIds(clients, names);
  return {
    launchTemplate,
    loadBalancer,
    group,
    scalingPolicy,
    replacedInstanceIds,
    deletedLaunchTemplates,
    instanceIds,
    url: urlOf(loadBalancer.dnsName, spec.certificateArn !== undefined),
  };
}

/**
 * Waits until the group lists `count` instances and they are running (not
 * yet serving), and returns their ids, sorted: what a deploy to a group just
 * launched from the base image needs before it can find its hosts. A new
 * group launches asynchronously: it may list no instance at first, and
 * DescribeInstances lists only running ones as hosts.
 */
export async function waitForGroupInstancesRunning(clients: AppServerClients, groupName: string, count: number, wait: Progress): Promise<string[]> {
  const ids = await waitFor(
    async () => {
      const group = await findAutoScalingGroup(clients.autoScaling, groupName);
      const launched = (group?.Instances ?? [])
        .filter((instance) => !(instance.LifecycleState ?? '').startsWith('Terminat'))
        .flatMap((instance) => (instance.InstanceId ? [instance.InstanceId] : []));
      return launched.length >= count ? { done: true, value: launched } : { done: false, state: `${launched.length} of ${count} launched` };
    },
    { what: `${groupName} to launch ${count} instance${count === 1 ? '' : 's'}`, timeoutMs: INSTANCE_RUNNING_TIMEOUT_MS, intervalMs: 3_000, signal: wait.signal, clock: wait.clock, onPoll: wait.onProgress },
  );
  await waitForInstancesRunning(clients.ec2, ids, wait);
  return ids.sort();
}

/** The ids of the group's instances now, sorted (no wait). */
async function findGroupInstanceIds(clients: AppServerClients, names: EnvNames): Promise<string[]> {
  const group = await findAutoScalingGroup(clients.autoScaling, names.appServers);
  return (group?.Instances ?? []).flatMap((instance) => (instance.InstanceId ? [instance.InstanceId] : [])).sort();
}

/** What {@link pointAppServersAt} did. */
export interface PointResult {
  /** The launch template the group launches from now. */
  launchTemplate: LaunchTemplateResult;
  /** What changed on the group's launch settings, e.g. `image ami-1 → ami-2`; empty when it already launched from the image. */
  changes: string[];
  /** Instances replaced (surge: new ones in service first). */
  replacedInstanceIds: string[];
}

/**
 * Points the app servers' group at `imageId` (every other launch setting
 * kept: a new template named by its settings, the group updated, older
 * templates deleted) and replaces, with the group's surge replacement, the
 * instances launched from another template except `keep`. Never fewer
 * instances in service than before (replace-instances.ts).
 */
export async function pointAppServersAt(
  clients: AppServerClients,
  target: { names: EnvNames; imageId: string; healthCheckTarget: string | undefined; keep?: readonly string[] | undefined; inspect?: InspectAccess | undefined },
  options: BoundedProgress,
): Promise<PointResult> {
  const { names } = target;
  const repointed = await repointGroup(clients, { names, tier: 'app', imageId: target.imageId }, options);
  if (!repointed) {
    throw new ArgosError('FAILED', `${names.env} has no app servers (autoscaling group ${names.appServers} or its launch template is missing): run argos ${names.env} commission first`);
  }
  const { launchTemplate, previous } = repointed;
  throwIfInterrupted(options.signal);
  const replacedInstanceIds = await replaceOutdatedInstances(
    clients,
    { names, launchTemplateId: launchTemplate.id, healthCheckTarget: target.healthCheckTarget, keep: target.keep, inspect: target.inspect },
    options,
  );
  await deleteLaunchTemplates(clients.ec2, names, { keep: launchTemplate.name });
  return { launchTemplate, changes: launchTemplate.name !== previous ? launchTemplate.changes : [], replacedInstanceIds };
}

/**
 * Points the group of `tier` at `imageId`, every other launch setting kept: a
 * new template named by its settings, then UpdateAutoScalingGroup when it is
 * not the one the group uses. `undefined` when there is no such group (or its
 * template is gone). Instances keep running; older templates are the caller's to delete.
 */
export async function repointGroup(
  clients: Pick<AppServerClients, 'ec2' | 'autoScaling'>,
  target: { names: EnvNames; tier: Tier; imageId: string },
  options: Pick<BoundedProgress, 'onProgress'>,
): Promise<{ launchTemplate: LaunchTemplateResult; previous: string } | undefined> {
  const { names, tier } = target;
  const group = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names, tier), names);
  const previous = group?.LaunchTemplate?.LaunchTemplateName;
  const data = previous === undefined ? undefined : await findLaunchTemplateData(clients.ec2, previous);
  if (!group || !data || previous === undefined) return undefined;
  const launchTemplate = await ensureLaunchTemplate(
    clients.ec2,
    {
      names,
      tier,
      imageId: target.imageId,
      instanceType: String(data.InstanceType ?? ''),
      keyName: data.KeyName ?? '',
      appSecurityGroupId: data.SecurityGroupIds?.[0] ?? '',
      rootVolumeSize: data.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize ?? 16,
    },
    { previous },
  );
  if (launchTemplate.name !== previous) {
    const groupName = tierGroupName(names, tier);
    options.onProgress?.(`pointing ${groupName} at ${launchTemplate.name}`);
    await clients.autoScaling.send(
      new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: groupName, LaunchTemplate: { LaunchTemplateName: launchTemplate.name, Version: '$Default' } }),
    );
  }
  return { launchTemplate, previous };
}

/**
 * What {@link ensureAppServers} would create or change, from Describe calls
 * only, in the words its run reports: e.g. `max size 4 → 6` and
 * `instance type t3.small → t3.large: 2 instances replaced`. Without an image
 * (`spec.imageId` empty: it is still to be baked) the launch settings cannot
 * be compared, and a new image means new templates anyway.
 */
export async function planAppServers(clients: AppServerClients, spec: AppServersSpec): Promise<string[]> {
  const { names } = spec;
  const group = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names), names);
  if (!group) {
    return [`create the launch template and the autoscaling group ${names.appServers} (min ${spec.minSize}, max ${spec.maxSize}, ${spec.instanceType}) with its CPU policy`];
  }
  const previous = group.LaunchTemplate?.LaunchTemplateName;
  const template = spec.imageId ? await planLaunchTemplate(clients.ec2, spec, previous) : { name: previous ?? '', changes: ['launch settings for the new image'] };
  const actions: string[] = [];
  const instances = (group.Instances ?? []).length;
  if (template.name !== previous || !spec.imageId) {
    // A new template: every instance of the group is launched from another one.
    const replaced = instances > 0 ? `: ${instances} instance${instances === 1 ? '' : 's'} replaced` : '';
    actions.push(...template.changes.map((change, index) => (index === template.changes.length - 1 ? `${change}${replaced}` : change)));
  } else {
    const existing = await findLaunchTemplate(clients.ec2, names, template.name);
    const outdated = existing ? await findOutdatedInstances(clients.ec2, group, existing.id) : [];
    if (outdated.length > 0) actions.push(`${outdated.length} instance${outdated.length === 1 ? '' : 's'} on an earlier template replaced`);
  }
  // The template line of the group's own diff is said above, in terms of settings.
  const groupChanges = diffAutoScalingGroup(group, { ...spec, launchTemplateName: template.name }).changes.filter((change) => !change.startsWith('launch template '));
  actions.push(...groupChanges, ...(await planScalingPolicy(clients.autoScaling, spec)).changes);
  return actions;
}

/** What {@link deleteAppServers} removed; `false` / empty for what was already gone. */
export interface AppServersDeleteResult {
  group: boolean;
  instanceIds: string[];
  launchTemplates: string[];
  loadBalancer: boolean;
  /** The group or load balancer of the environment's names that another app or environment owns: left alone. */
  conflicts: Conflict[];
}

/**
 * Deletes the app servers: the group with force (waiting until its instances
 * are terminated and it is gone), then every app-server template of the
 * environment, then the load balancer. Succeeds on whatever is already gone;
 * a group or load balancer that is not the environment's (by its tags) is left alone.
 */
export async function deleteAppServers(
  clients: AppServerClients,
  names: EnvNames,
  options: BoundedProgress,
): Promise<AppServersDeleteResult> {
  const group = await deleteAutoScalingGroup(clients, names, options);
  throwIfInterrupted(options.signal);
  const launchTemplates = await deleteLaunchTemplates(clients.ec2, names);
  const loadBalancer = await deleteLoadBalancer(clients.elb, names);
  const conflicts = [group.conflict, loadBalancer.conflict].filter((conflict) => conflict !== undefined);
  return { group: group.existed, instanceIds: group.instanceIds, launchTemplates, loadBalancer: loadBalancer.existed, conflicts };
}
