/**
 * What the bake's mock-based unit tests share: a bake spec whose SSH and
 * playbook do nothing, and DescribeInstances' answer for the running bake instance.
 */
import type { BakeSpec } from '../../src/image.js';
import { makeNames } from '../../src/names.js';

/** The bake of `argos staging`, with `overrides`. */
export function bakeSpec(overrides: Partial<BakeSpec> = {}): BakeSpec {
  return {
    names: makeNames('argos', 'staging'),
    vpcId: 'vpc-1',
    subnetId: 'subnet-1',
    baseAmi: 'ami-base',
    instanceType: 't3.small',
    keyName: 'argos',
    rootVolumeSize: 16,
    sshCidr: '203.0.113.7/32',
    waitForSsh: async () => undefined,
    provision: async () => undefined,
    ...overrides,
  };
}

/** DescribeInstances' answer while the bake instance `i-bake` runs. */
export const RUNNING_BAKE_INSTANCE = {
  Reservations: [{ Instances: [{ InstanceId: 'i-bake', State: { Name: 'running' as const }, PublicDnsName: 'ec2-198-51-100-1.compute-1.amazonaws.com' }] }],
};
