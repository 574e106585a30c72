/**
 * The worker servers of one environment: Celery workers in their own
 * autoscaling group `<app>-<env>-worker`, launched from their own launch
 * templates (the same hardening as the app servers': IMDSv2, encrypted root
 * volume, tags on create) into their own security group, with a CPU
 * target-tracking policy like the app servers'. No load balancer: the group
 * checks EC2 health, and systemd keeps the worker service running.
 *
 * They launch from the environment's release image, as the app servers do;
 * their user data makes a worker of the instance (launch-template.ts,
 * `buildWorkerUserData`).
 */
import type { EnvNames } from '../names.js';
import { ownedOrThrow, type Conflict } from '../ownership.js';
import { throwIfInterrupted, type BoundedProgress } from '../wait.js';
import { repointGroup } from './app-servers.js';
import { deleteAutoScalingGroup, diffAutoScalingGroup, ensureAutoScalingGroup, lookupAutoScalingGroup } from './group.js';
import { waitForGroupInService } from './in-service.js';
import { deleteLaunchTemplates, ensureLaunchTemplate, planLaunchTemplate, type LaunchTemplateResult, type LaunchTemplateSpec } from './launch-template.js';
import { ensureScalingPolicy, planScalingPolicy } from './scaling-policy.js';
import type { AppServerClients, AppServersSpec, EnsureResult } from './types.js';

/** The clients the workers need (no load balancer). */
export type WorkerClients = Pick<AppServerClients, 'ec2' | 'autoScaling'>;

/** Everything the worker tier is built from. */
export type WorkersSpec = Pick<
  AppServersSpec,
  'names' | 'imageId' | 'instanceType' | 'keyName' | 'instanceSubnets' | 'rootVolumeSize' | 'minSize' | 'maxSize' | 'desiredCapacity' | 'scalingTargetCpu'
> & {
  /** The workers' security group (security.ts): no inbound but temporary SSH; the broker and database admit it. */
  workerSecurityGroupId: string;
};

/** What {@link ensureWorkers} did, part by part. */
export interface WorkersResult {
  launchTemplate: LaunchTemplateResult;
  group: EnsureResult;
  scalingPolicy: EnsureResult;
  /** Earlier worker templates deleted once the group had moved off them. */
  deletedLaunchTemplates: string[];
  /** Instances in service in the group at the end, sorted. */
  instanceIds: string[];
}

function templateSpec(spec: WorkersSpec): LaunchTemplateSpec {
  // The template data's security group field is the app servers' name for "the instances' group".
  return { names: spec.names, tier: 'worker', imageId: spec.imageId, instanceType: spec.instanceType, keyName: spec.keyName, appSecurityGroupId: spec.workerSecurityGroupId, rootVolumeSize: spec.rootVolumeSize };
}

/**
 * Builds the workers of `spec`, or converges existing ones to it: the launch
 * template for the current settings, the group (pointed at that template), its
 * scaling policy; deletes worker templates no longer used, then waits until at
 * least `minSize` instances are in service in the group (`timeoutMs`, default
 * 15 minutes). Instances launched from an earlier template keep running until
 * the group replaces them (scale-in removes the oldest template's first).
 */
export async function ensureWorkers(clients: WorkerClients, spec: WorkersSpec, options: BoundedProgress): Promise<WorkersResult> {
  const { names } = spec;
  const before = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names, 'worker'), names);
  const launchTemplate = await ensureLaunchTemplate(clients.ec2, templateSpec(spec), { previous: before?.LaunchTemplate?.LaunchTemplateName });
  throwIfInterrupted(options.signal);
  const group = await ensureAutoScalingGroup(clients.autoScaling, { ...spec, tier: 'worker', launchTemplateName: launchTemplate.name }, options);
  const scalingPolicy = await ensureScalingPolicy(clients.autoScaling, { names, tier: 'worker', scalingTargetCpu: spec.scalingTargetCpu });
  throwIfInterrupted(options.signal);
  const deletedLaunchTemplates = await deleteLaunchTemplates(clients.ec2, names, { keep: launchTemplate.name, tier: 'worker' });
  const instanceIds = await waitForGroupInService(clients.autoScaling, { groupName: names.worker, count: spec.minSize }, options);
  return { launchTemplate, group, scalingPolicy, deletedLaunchTemplates, instanceIds };
}

/**
 * What {@link ensureWorkers} would create or change, from Describe calls
 * only. Without an image (`spec.imageId` empty: still to be made) the launch
 * settings cannot be compared.
 */
export async function planWorkers(clients: WorkerClients, spec: WorkersSpec): Promise<string[]> {
  const { names } = spec;
  const group = ownedOrThrow(await lookupAutoScalingGroup(clients.autoScaling, names, 'worker'), names);
  if (!group) {
    return [`create the launch template and the autoscaling group ${names.worker} (min ${spec.minSize}, max ${spec.maxSize}, ${spec.instanceType}) with its CPU policy`];
  }
  const previous = group.LaunchTemplate?.LaunchTemplateName;
  const template = spec.imageId ? await planLaunchTemplate(clients.ec2, templateSpec(spec), previous) : { name: previous ?? '', changes: ['launch settings for the new image'] };
  const groupChanges = diffAutoScalingGroup(group, { ...spec, tier: 'worker', launchTemplateName: template.name }).changes.filter((change) => !change.startsWith('launch template '));
  const policy = await planScalingPolicy(clients.autoScaling, { names, tier: 'worker', scalingTargetCpu: spec.scalingTargetCpu });
  return [...(template.name !== previous ? template.changes : []), ...groupChanges, ...policy.changes];
}

/**
 * Points the workers' group at a release image (deploy's `release-live`), every
 * other launch setting kept, and deletes the worker templates no longer used.
 * Running workers are not replaced: deploy runs the worker role on them.
 * `undefined` when the environment has no workers.
 */
export async function pointWorkersAt(clients: WorkerClients, target: { names: EnvNames; imageId: string }, options: BoundedProgress): Promise<LaunchTemplateResult | undefined> {
  const repointed = await repointGroup(clients, { ...target, tier: 'worker' }, options);
  if (!repointed) return undefined;
  await deleteLaunchTemplates(clients.ec2, target.names, { keep: repointed.launchTemplate.name, tier: 'worker' });
  return repointed.launchTemplate;
}

/** What {@link deleteWorkers} removed; `false` / empty for what was already gone. */
export interface WorkersDeleteResult {
  group: boolean;
  instanceIds: string[];
  launchTemplates: string[];
  /** A group of the workers' name that another app or environment owns: left alone. */
  conflict?: Conflict | undefined;
}

/**
 * Deletes the workers: the group with force (waiting until its instances are
 * terminated, Celery's warm shutdown included, and it is gone), then every
 * worker template. Succeeds on whatever is already gone.
 */
export async function deleteWorkers(clients: WorkerClients, names: EnvNames, options: BoundedProgress): Promise<WorkersDeleteResult> {
  const group = await deleteAutoScalingGroup(clients, names, options, 'worker');
  throwIfInterrupted(options.signal);
  const launchTemplates = await deleteLaunchTemplates(clients.ec2, names, { tier: 'worker' });
  return { group: group.existed, instanceIds: group.instanceIds, launchTemplates, conflict: group.conflict };
}
