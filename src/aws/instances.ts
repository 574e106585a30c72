/**
 * EC2 instances argos launches itself (the broker, the image bake): launched
 * with IMDSv2 and an encrypted root volume, tagged on create, found again by
 * tags, terminated and waited for.
 */
import { randomUUID } from 'node:crypto';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
  type InstanceStateName,
} from '@aws-sdk/client-ec2';
import { ArgosError } from '../errors.js';
import { toTagSpecifications, type Tag } from '../names.js';
import { formatDuration } from '../reporter.js';
import { catchCodes, waitFor, type Progress } from '../wait.js';
import { retryWhileNotVisible, VISIBILITY_TIMEOUT_MS } from './consistency.js';
import { EC2_ERRORS } from './error-codes.js';
import { ALL_STATES, ENDING_STATES, isInState, LIVE_STATES, NOT_TERMINATED_STATES, RUNNING_STATES } from './instance-states.js';

/** Bound for an instance to be running (safety.md: at least 10 minutes). */
export const INSTANCE_RUNNING_TIMEOUT_MS = 10 * 60_000;
/** Bound for instances to be terminated. */
export const INSTANCE_TERMINATED_TIMEOUT_MS = 15 * 60_000;

/** An instance as argos needs it. */
export interface InstanceInfo {
  instanceId: string;
  state: string;
  /** The image it was launched from. */
  imageId: string | undefined;
  publicDnsName: string | undefined;
  publicIpAddress: string | undefined;
  privateDnsName: string | undefined;
  privateIpAddress: string | undefined;
  securityGroupIds: string[];
  tags: Record<string, string>;
}

/** Converts the SDK's shape; empty strings (EC2's "none") become undefined. */
export function toInstanceInfo(instance: Instance): InstanceInfo {
  const blank = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    imageId: blank(instance.ImageId),
    publicDnsName: blank(instance.PublicDnsName),
    publicIpAddress: blank(instance.PublicIpAddress),
    privateDnsName: blank(instance.PrivateDnsName),
    privateIpAddress: blank(instance.PrivateIpAddress),
    securityGroupIds: (instance.SecurityGroups ?? []).flatMap((group) => (group.GroupId ? [group.GroupId] : [])),
    tags: Object.fromEntries((instance.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
  };
}

/** Instances matching `filters` in `states` (one paginated Describe call), sorted by id. */
export async function findInstances(
  ec2: EC2Client,
  filters: { Name: string; Values: string[] }[],
  states: readonly InstanceStateName[] = LIVE_STATES,
): Promise<InstanceInfo[]> {
  const found: InstanceInfo[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({ Filters: [...filters, { Name: 'instance-state-name', Values: [...states] }], NextToken }),
    );
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) found.push(toInstanceInfo(instance));
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return found.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

/** What to launch. */
export interface LaunchSpec {
  imageId: string;
  instanceType: string;
  keyName: string;
  securityGroupIds: string[];
  subnetId?: string | undefined;
  rootVolumeSize: number;
  tags: Tag[];
}

/**
 * Launches one instance: IMDSv2 required (hop limit 1), encrypted root volume,
 * instance and volume tagged on create, and a ClientToken so a retried call
 * (the SDK retries on network errors) cannot start a second instance.
 * `groupsJustCreated`: the security groups were created by this run a moment
 * ago, so `InvalidGroup.NotFound` is retried (eventual consistency; the one
 * ClientToken keeps the retries to one instance).
 */
export async function launchInstance(ec2: EC2Client, spec: LaunchSpec, options: { groupsJustCreated?: Progress } = {}): Promise<InstanceInfo> {
  const rootDeviceName = await findRootDeviceName(ec2, spec.imageId);
  const clientToken = randomUUID();
  const run = () =>
    ec2.send(
      new RunInstancesCommand({
        ImageId: spec.imageId,
        InstanceType: spec.instanceType as never,
        KeyName: spec.keyName,
        MinCount: 1,
        MaxCount: 1,
        SecurityGroupIds: spec.securityGroupIds,
        SubnetId: spec.subnetId,
        ClientToken: clientToken,
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [
          { DeviceName: rootDeviceName, Ebs: { VolumeSize: spec.rootVolumeSize, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } },
        ],
        TagSpecifications: toTagSpecifications(['instance', 'volume'] as const, spec.tags),
      }),
    );
  const { groupsJustCreated } = options;
  const response = groupsJustCreated
    ? await retryWhileNotVisible(run, EC2_ERRORS.securityGroupNotFound, `security groups ${spec.securityGroupIds.join(', ')}`, groupsJustCreated)
    : await run();
  const instance = response.Instances?.[0];
  if (!instance?.InstanceId) throw new ArgosError('FAILED', `EC2 launched no instance from ${spec.imageId}`);
  return toInstanceInfo(instance);
}

/** The image's root device, which the encrypted-volume mapping must name. */
async function findRootDeviceName(ec2: EC2Client, imageId: string): Promise<string> {
  const response = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const image = response.Images?.[0];
  if (!image) throw new ArgosError('FAILED', `image ${imageId} not found in this region: check base_ami or run commission to bake the image`);
  return image.RootDeviceName ?? '/dev/sda1';
}

/**
 * Waits until each instance is running and returns them. A freshly launched id
 * may not be visible yet (eventual consistency): `InvalidInstanceID.NotFound` is retried.
 */
export async function waitForInstancesRunning(ec2: EC2Client, instanceIds: string[], wait: Progress): Promise<InstanceInfo[]> {
  return waitFor(
    async () => {
      const instances = await retryWhileNotVisible(
        () => findInstances(ec2, [{ Name: 'instance-id', Values: instanceIds }], ALL_STATES),
        EC2_ERRORS.instanceNotFound,
        `instances ${instanceIds.join(', ')}`,
        wait,
      );
      const gone = instances.filter((instance) => isInState(instance.state, ENDING_STATES));
      if (gone.length > 0) {
        throw new ArgosError('FAILED', `instance ${gone.map((i) => i.instanceId).join(', ')} was terminated while starting: check the EC2 console for the reason (capacity, limits) and run the command again`);
      }
      const running = instances.filter((instance) => isInState(instance.state, RUNNING_STATES));
      if (running.length === instanceIds.length) return { done: true, value: running };
      return { done: false, state: instances.map((i) => `${i.instanceId} ${i.state}`).join(', ') || 'not visible yet' };
    },
    {
      what: `instances ${instanceIds.join(', ')} to be running`,
      timeoutMs: INSTANCE_RUNNING_TIMEOUT_MS,
      intervalMs: 3_000,
      signal: wait.signal,
      clock: wait.clock,
      onPoll: wait.onProgress,
    },
  );
}

/**
 * Terminates the instances and waits until they are terminated. Nothing to do for an empty list.
 * A not-found answer means already gone, except with `justLaunched` (this run
 * launched them, so they may not be visible yet): AWS documents that
 * `InvalidInstanceID.NotFound` from TerminateInstances right after RunInstances
 * does not mean the instance is or will be terminated; it may still be running.
 * So it is retried for a bounded while, and if it never becomes visible the
 * call fails naming the instances rather than report them gone.
 */
export async function terminateInstances(ec2: EC2Client, instanceIds: string[], wait: Progress, options: { justLaunched?: boolean } = {}): Promise<void> {
  if (instanceIds.length === 0) return;
  const terminate = () => ec2.send(new TerminateInstancesCommand({ InstanceIds: instanceIds }));
  if (!options.justLaunched) {
    // Found by an earlier lookup (or long since launched): not found is gone.
    await catchCodes(terminate, EC2_ERRORS.instanceNotFound, undefined);
  } else {
    try {
      await retryWhileNotVisible(terminate, EC2_ERRORS.instanceNotFound, `instances ${instanceIds.join(', ')} (launched by this run)`, wait);
    } catch (error) {
      if (!(error instanceof ArgosError && error.code === 'TIMEOUT')) throw error;
      throw new ArgosError(
        'FAILED',
        `could not terminate ${instanceIds.join(', ')}: launched by this run, but EC2 still answers "not found" after ${formatDuration(VISIBILITY_TIMEOUT_MS)}; ` +
          'it may still be running: check it in the EC2 console (or aws ec2 describe-instances --instance-ids ' + instanceIds.join(' ') + ') and terminate it',
        { cause: error },
      );
    }
  }
  await waitFor(
    async () => {
      const alive = await findInstances(ec2, [{ Name: 'instance-id', Values: instanceIds }], NOT_TERMINATED_STATES);
      if (alive.length === 0) return { done: true, value: undefined };
      return { done: false, state: alive.map((i) => `${i.instanceId} ${i.state}`).join(', ') };
    },
    {
      what: `instances ${instanceIds.join(', ')} to be terminated`,
      timeoutMs: INSTANCE_TERMINATED_TIMEOUT_MS,
      intervalMs: 3_000,
      signal: wait.signal,
      clock: wait.clock,
      onPoll: wait.onProgress,
    },
  );
}
