/**
 * Surge replacement of the group's out-of-date instances (those launched from
 * an earlier template): new instances first, old ones only once the new serve.
 */
import { TerminateInstanceInAutoScalingGroupCommand, UpdateAutoScalingGroupCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { AUTO_SCALING_ERRORS } from '../aws/error-codes.js';
import { NOT_TERMINATED_STATES } from '../aws/instance-states.js';
import { findInstances } from '../aws/instances.js';
import type { EnvNames } from '../names.js';
import { catchCodes, retryOnCodes, type BoundedProgress } from '../wait.js';
import { findAutoScalingGroup } from './group.js';
import { waitForInService, type InspectAccess } from './in-service.js';
import type { AppServerClients } from './types.js';

/**
 * Replaces instances launched from another template than the group's own:
 * the group first grows by their number (its max raised for the while), the
 * new instances come into service, then the old ones are terminated with the
 * capacity decremented, so the app never runs on fewer instances than before.
 * Returns the ids replaced.
 */
export async function replaceOutdatedInstances(
  clients: AppServerClients,
  target: {
    names: EnvNames;
    launchTemplateId: string;
    healthCheckTarget?: string | undefined;
    /** Instances kept although launched from another template (a deploy brought them to the current release in place). */
    keep?: readonly string[] | undefined;
    inspect?: InspectAccess | undefined;
  },
  options: BoundedProgress,
): Promise<string[]> {
  const name = target.names.appServers;
  const group = await findAutoScalingGroup(clients.autoScaling, name);
  if (!group) return [];
  const keep = new Set(target.keep ?? []);
  const outdated = (await findOutdatedInstances(clients.ec2, group, target.launchTemplateId)).filter((id) => !keep.has(id));
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
    { groupName: name, loadBalancerName: target.names.loadBalancer, count: desired, exclude: outdated, healthCheckTarget: target.healthCheckTarget, inspect: target.inspect },
    options,
  );
  let alreadyGone = 0;
  for (const instanceId of outdated) {
    // Already gone (terminated by hand, as unhealthy, or a scale-in got there first) counts as replaced;
    // but then nothing decremented the surged capacity for it: it is set back below.
    const terminated = await catchCodes(
      () =>
        retryOnCodes(
          () =>
            clients.autoScaling.send(
              new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: true }),
            ),
          AUTO_SCALING_ERRORS.busy,
          { what: `the group ${name} to let ${instanceId} go`, timeoutMs: 5 * 60_000, signal: options.signal, clock: options.clock },
        ).then(() => true),
      AUTO_SCALING_ERRORS.notFound,
      false,
    );
    if (!terminated) alreadyGone += 1;
  }
  if (maxSize < surge || alreadyGone > 0) {
    await clients.autoScaling.send(
      new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, MaxSize: maxSize, ...(alreadyGone > 0 ? { DesiredCapacity: desired } : {}) }),
    );
  }
  return outdated;
}

/**
 * The group's live instances launched from another template, read from the
 * `aws:ec2launchtemplate:id` tag EC2 puts on each (one lookup for all of them).
 * The tag, not the group's per-instance field: moto reports the group's current
 * template there for every instance. The ids go in a filter, not `InstanceIds`,
 * so an instance EC2 has already forgotten is skipped instead of failing the call.
 */
export async function findOutdatedInstances(ec2: EC2Client, group: AutoScalingGroup, launchTemplateId: string): Promise<string[]> {
  const ids = (group.Instances ?? []).map((instance) => instance.InstanceId).filter((id): id is string => id !== undefined);
  if (ids.length === 0) return [];
  const instances = await findInstances(ec2, [{ Name: 'instance-id', Values: ids }], NOT_TERMINATED_STATES);
  return instances.filter((instance) => instance.tags['aws:ec2launchtemplate:id'] !== launchTemplateId).map((instance) => instance.instanceId);
}

