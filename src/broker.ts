/**
 * The optional broker instance (RabbitMQ + Redis), off by default as in the
 * original. Launched from the baked image, found again by its tags.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { isInState, STOPPED_STATES } from './aws/instance-states.js';
import { findInstances, launchInstance, terminateInstances, waitForInstancesRunning, type InstanceInfo } from './aws/instances.js';
import { ArgosError } from './errors.js';
import { makeTags, toTagFilters, type EnvNames } from './names.js';
import type { Progress } from './wait.js';

/** What {@link ensureBroker} launches. */
export interface BrokerSpec {
  names: EnvNames;
  imageId: string;
  instanceType: string;
  keyName: string;
  securityGroupId: string;
  subnetId: string | undefined;
  rootVolumeSize: number;
}

/** The running broker and whether this run launched it. */
export interface EnsureBrokerResult {
  instanceId: string;
  publicDnsName: string | undefined;
  privateDnsName: string | undefined;
  created: boolean;
}

/** Whether this run should have a broker: `--with-broker` or `broker_enabled: true`. */
export function isBrokerWanted(withBroker: boolean, brokerEnabled: boolean): boolean {
  return withBroker || brokerEnabled;
}

/** The environment's live broker instances (normally zero or one). */
export async function findBrokers(ec2: EC2Client, names: EnvNames): Promise<InstanceInfo[]> {
  return findInstances(ec2, toTagFilters({ app: names.app, env: names.env, group: 'broker' }));
}

/** Reuses the running broker or launches one, and waits until it is running. */
export async function ensureBroker(ec2: EC2Client, spec: BrokerSpec, wait: Progress): Promise<EnsureBrokerResult> {
  const [existing, ...extra] = await findBrokers(ec2, spec.names);
  if (extra.length > 0) {
    throw new ArgosError('FAILED', `found ${extra.length + 1} broker instances for ${spec.names.env}; terminate the extra ones (${extra.map((i) => i.instanceId).join(', ')}) and run again`);
  }
  let instanceId = existing?.instanceId;
  if (existing && isInState(existing.state, STOPPED_STATES)) {
    throw new ArgosError('FAILED', `the broker ${existing.instanceId} is ${existing.state}: start it (aws ec2 start-instances --instance-ids ${existing.instanceId}) and run again`);
  }
  const created = instanceId === undefined;
  if (!instanceId) {
    const launched = await launchInstance(ec2, {
      imageId: spec.imageId,
      instanceType: spec.instanceType,
      keyName: spec.keyName,
      securityGroupIds: [spec.securityGroupId],
      subnetId: spec.subnetId,
      rootVolumeSize: spec.rootVolumeSize,
      tags: makeTags({ app: spec.names.app, env: spec.names.env, group: 'broker' }, spec.names.broker),
    });
    instanceId = launched.instanceId;
  }
  const [running] = await waitForInstancesRunning(ec2, [instanceId], wait);
  return { instanceId, publicDnsName: running?.publicDnsName, privateDnsName: running?.privateDnsName, created };
}

/** Terminates the broker and waits until it is gone. Returns the ids terminated (none is fine). */
export async function deleteBroker(ec2: EC2Client, names: EnvNames, wait: Progress): Promise<string[]> {
  const ids = (await findBrokers(ec2, names)).map((instance) => instance.instanceId);
  await terminateInstances(ec2, ids, wait);
  return ids;
}
