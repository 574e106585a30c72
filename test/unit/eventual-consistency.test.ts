/**
 * EC2's eventual consistency, which moto never shows: right after a create, a
 * call naming the new id may answer `InvalidGroup.NotFound` /
 * `InvalidInstanceID.NotFound` although the thing exists ("Eventual consistency
 * in the Amazon EC2 API"). argos retries those, bounded, only for what it has
 * just created; an old not-found still means gone at once.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateImageCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { terminateInstances } from '../../src/aws/instances.js';
import { ArgosError } from '../../src/errors.js';
import { bakeImage, removeBakeLeftovers } from '../../src/image.js';
import { makeNames } from '../../src/names.js';
import { ensureSecurityGroups, openSsh } from '../../src/security.js';
import { bakeSpec, RUNNING_BAKE_INSTANCE } from '../support/bake-fixtures.js';
import { VirtualClock } from '../support/virtual-clock.js';

const names = makeNames('argos', 'staging');
const ec2Mock = mockClient(EC2Client);
const groupNotFound = () => Object.assign(new Error("The security group 'sg-new' does not exist"), { name: 'InvalidGroup.NotFound', $metadata: {} });
const instanceNotFound = () => Object.assign(new Error("The instance ID 'i-bake' does not exist"), { name: 'InvalidInstanceID.NotFound', $metadata: {} });

const running = RUNNING_BAKE_INSTANCE;

/** Once a terminate is accepted, the wait that follows (non-terminated states only) finds nothing. */
function terminated() {
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  return {};
}


/** A bake whose playbook fails once the instance is running: its undo then removes what it created. */
const failingProvision = bakeSpec({
  provision: async () => {
    throw new ArgosError('FAILED', 'playbooks/image.yml failed');
  },
});

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-new' });
  ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({});
  ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-base'] }).resolves({ Images: [{ ImageId: 'ami-base', RootDeviceName: '/dev/xvda' }] });
  ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-new'] }).resolves({ Images: [{ ImageId: 'ami-new', State: 'available' }] });
  ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-new' });
  ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-bake', State: { Name: 'pending' } }] });
  ec2Mock.on(DescribeInstancesCommand).resolves(running);
  ec2Mock.on(TerminateInstancesCommand).callsFake(terminated);
  ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
});

const progress = (clock = new VirtualClock()) => ({ signal: new AbortController().signal, clock });

describe('right after CreateSecurityGroup', () => {
  it('the bake retries AuthorizeSecurityGroupIngress answered InvalidGroup.NotFound twice, then opens SSH', async () => {
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejectsOnce(groupNotFound()).rejectsOnce(groupNotFound()).resolves({});
    const clock = new VirtualClock();
    const result = await bakeImage(new EC2Client({}), bakeSpec(), progress(clock));
    await result.cleanup;
    expect(result.image.imageId).toBe('ami-new');
    expect(ec2Mock).toHaveReceivedCommandTimes(AuthorizeSecurityGroupIngressCommand, 3);
    expect(clock.sleeps.slice(0, 2)).toEqual([2_000, 4_000]);
  });

  it('the bake retries RunInstances answered InvalidGroup.NotFound twice, with one ClientToken (one instance)', async () => {
    ec2Mock.on(RunInstancesCommand).rejectsOnce(groupNotFound()).rejectsOnce(groupNotFound()).resolves({ Instances: [{ InstanceId: 'i-bake', State: { Name: 'pending' } }] });
    const result = await bakeImage(new EC2Client({}), bakeSpec(), progress());
    await result.cleanup;
    const tokens = ec2Mock.commandCalls(RunInstancesCommand).map((call) => call.args[0].input.ClientToken);
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(1);
  });

  it('ensureSecurityGroups retries the rules of groups it just created (InvalidGroup.NotFound twice)', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejectsOnce(groupNotFound()).rejectsOnce(groupNotFound()).resolves({});
    const result = await ensureSecurityGroups(new EC2Client({}), { names, vpcId: 'vpc-1', appPort: 8000 }, progress());
    expect(result.created).toHaveLength(4);
    // Four groups' rules: the first one's call answered not found twice.
    expect(ec2Mock).toHaveReceivedCommandTimes(AuthorizeSecurityGroupIngressCommand, 4 + 2);
  });

  it('an existing group that is not found is not retried: SSH on a group argos did not just create fails at once', async () => {
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(groupNotFound());
    await expect(openSsh(new EC2Client({}), 'sg-old', '203.0.113.7/32')).rejects.toMatchObject({ name: 'InvalidGroup.NotFound' });
    expect(ec2Mock).toHaveReceivedCommandTimes(AuthorizeSecurityGroupIngressCommand, 1);
  });
});

describe("the bake's undo, right after launch", () => {
  it('retries a TerminateInstances answered InvalidInstanceID.NotFound, and the instance is really terminated', async () => {
    ec2Mock
      .on(TerminateInstancesCommand)
      .rejectsOnce(instanceNotFound())
      .rejectsOnce(instanceNotFound())
      .callsFake(terminated);
    await expect(bakeImage(new EC2Client({}), failingProvision, progress())).rejects.toMatchObject({ message: 'playbooks/image.yml failed' });
    expect(ec2Mock).toHaveReceivedCommandTimes(TerminateInstancesCommand, 3);
    // Only the third, accepted, terminate let the wait see it gone; the group went after it.
    const order = ec2Mock.calls().map((call) => call.args[0].constructor.name);
    expect(order.slice(order.indexOf('TerminateInstancesCommand'))).toEqual([
      'TerminateInstancesCommand',
      'TerminateInstancesCommand',
      'TerminateInstancesCommand',
      'DescribeInstancesCommand',
      'DeleteSecurityGroupCommand',
    ]);
  });

  it('retries a DeleteSecurityGroup answered InvalidGroup.NotFound, and the group is really deleted', async () => {
    ec2Mock.on(DeleteSecurityGroupCommand).rejectsOnce(groupNotFound()).rejectsOnce(groupNotFound()).resolves({});
    await expect(bakeImage(new EC2Client({}), failingProvision, progress())).rejects.toMatchObject({ message: 'playbooks/image.yml failed' });
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 3);
  });

  it('never takes a lasting not-found for "gone": after the bound it names the instance as possibly still running', async () => {
    ec2Mock.on(TerminateInstancesCommand).rejects(instanceNotFound());
    const clock = new VirtualClock();
    const bake = bakeImage(new EC2Client({}), failingProvision, progress(clock));
    await expect(bake).rejects.toMatchObject({
      code: 'FAILED',
      message: expect.stringMatching(
        /^playbooks\/image\.yml failed; removing what the bake created then failed too \(could not terminate i-bake: launched by this run, but EC2 still answers "not found" after 2m00s; it may still be running: .*\): left instance i-bake, security group sg-new: run argos staging clean to remove them$/,
      ),
    });
    // Bounded: about the 2 minutes of the bound, not the 15 of a termination.
    expect(clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(2 * 60_000);
    // The group is not deleted while its instance may still run.
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSecurityGroupCommand);
  });
});

describe('an old not-found (something argos did not just create)', () => {
  it('a terminate of an instance found earlier that answers not found is gone at once', async () => {
    ec2Mock.on(TerminateInstancesCommand).rejects(instanceNotFound());
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const clock = new VirtualClock();
    await terminateInstances(new EC2Client({}), ['i-bake'], progress(clock));
    expect(ec2Mock).toHaveReceivedCommandTimes(TerminateInstancesCommand, 1);
    expect(clock.sleeps).toEqual([]);
  });

  it("clean's removal of bake leftovers takes a group that answers not found as gone at once", async () => {
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(groupNotFound());
    const clock = new VirtualClock();
    await removeBakeLeftovers(new EC2Client({}), { instanceIds: [], securityGroupIds: ['sg-old'] }, progress(clock));
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 1);
    expect(clock.sleeps).toEqual([]);
  });
});
