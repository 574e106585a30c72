/**
 * Bake failure paths moto cannot produce: an image that stays pending past the
 * bound, an instance id not yet visible right after RunInstances, Ctrl-C during
 * a wait. In each, what the bake created is removed.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateImageCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArgosError } from '../../src/errors.js';
import { bakeImage } from '../../src/image.js';
import { bakeSpec as spec, RUNNING_BAKE_INSTANCE } from '../support/bake-fixtures.js';
import { VirtualClock } from '../support/virtual-clock.js';

const ec2Mock = mockClient(EC2Client);
const notFound = Object.assign(new Error('The instance ID does not exist'), { name: 'InvalidInstanceID.NotFound', $metadata: {} });

const running = RUNNING_BAKE_INSTANCE;


beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-bake' });
  ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({});
  ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-base'] }).resolves({ Images: [{ ImageId: 'ami-base', RootDeviceName: '/dev/xvda' }] });
  ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-bake', State: { Name: 'pending' } }] });
  ec2Mock.on(DescribeInstancesCommand).resolves(running);
  ec2Mock.on(TerminateInstancesCommand).resolves({});
  ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
  ec2Mock.on(DeregisterImageCommand).resolves({});
  ec2Mock.on(DeleteSnapshotCommand).resolves({});
});

/** After terminate, the instance is gone for the wait that follows. */
function terminateEmptiesDescribe(): void {
  ec2Mock.on(TerminateInstancesCommand).callsFake(() => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    return {};
  });
}

/** A bake whose playbook is interrupted by Ctrl-C. */
function bakeInterruptedInThePlaybook(): ReturnType<typeof bakeImage> {
  const controller = new AbortController();
  return bakeImage(
    new EC2Client({}),
    spec({
      provision: async () => {
        controller.abort(new ArgosError('INTERRUPTED', 'interrupted'));
        throw new ArgosError('INTERRUPTED', 'interrupted while running playbooks/image.yml');
      },
    }),
    { signal: controller.signal, clock: new VirtualClock() },
  );
}

describe('bakeImage', () => {
  it('times out when the image stays pending past 45 minutes, then removes the image, instance and group', async () => {
    // GIVEN an image that never leaves "pending"
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-new' });
    ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-new'] }).resolves({
      Images: [{ ImageId: 'ami-new', State: 'pending', BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-1' } }] }],
    });
    terminateEmptiesDescribe();
    const clock = new VirtualClock();
    // WHEN baking
    const bake = bakeImage(new EC2Client({}), spec(), { signal: new AbortController().signal, clock });
    // THEN a clear timeout, and the cleanup ran in reverse order of creation
    await expect(bake).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringMatching(/^timed out after 45m00s waiting for image argos-image \(ami-new\) to be available \(last state: pending\)/),
    });
    const order = ec2Mock.calls().map((call) => call.args[0].constructor.name);
    const tail = order.slice(order.indexOf('DeregisterImageCommand'));
    expect(tail.filter((name) => name !== 'DescribeInstancesCommand')).toEqual([
      'DeregisterImageCommand',
      'DeleteSnapshotCommand',
      'TerminateInstancesCommand',
      'DeleteSecurityGroupCommand',
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-1' });
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: ['i-bake'] });
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteSecurityGroupCommand, { GroupId: 'sg-bake' });
  });

  it('retries InvalidInstanceID.NotFound right after RunInstances instead of failing', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejectsOnce(notFound).resolves(running);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-new' });
    ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-new'] }).resolves({ Images: [{ ImageId: 'ami-new', Name: 'argos-image', State: 'available' }] });
    terminateEmptiesDescribe();
    const result = await bakeImage(new EC2Client({}), spec(), { signal: new AbortController().signal, clock: new VirtualClock() });
    expect(result.image.imageId).toBe('ami-new');
    await result.cleanup;
    expect(ec2Mock).not.toHaveReceivedCommand(DeregisterImageCommand);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: ['i-bake'] });
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteSecurityGroupCommand, { GroupId: 'sg-bake' });
  });

  it('launches with IMDSv2 required, an encrypted root volume, tags and a ClientToken', async () => {
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-new' });
    ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-new'] }).resolves({ Images: [{ ImageId: 'ami-new', State: 'available' }] });
    terminateEmptiesDescribe();
    await (await bakeImage(new EC2Client({}), spec(), { signal: new AbortController().signal, clock: new VirtualClock() })).cleanup;
    const run = ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(run?.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(run?.BlockDeviceMappings).toEqual([{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 16, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }]);
    expect(run?.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(run?.TagSpecifications?.map((t) => t.ResourceType)).toEqual(['instance', 'volume']);
    expect(ec2Mock).toHaveReceivedCommandWith(AuthorizeSecurityGroupIngressCommand, {
      GroupId: 'sg-bake',
      IpPermissions: [expect.objectContaining({ FromPort: 22, ToPort: 22, IpRanges: [expect.objectContaining({ CidrIp: '203.0.113.7/32' })] })],
    });
  });

  it('on Ctrl-C during the playbook, stops and removes the instance and group', async () => {
    terminateEmptiesDescribe();
    const bake = bakeInterruptedInThePlaybook();
    await expect(bake).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateImageCommand);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: ['i-bake'] });
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteSecurityGroupCommand, { GroupId: 'sg-bake' });
  });

  it('when the cleanup after Ctrl-C fails too, names what is left and how to remove it', async () => {
    const denied = Object.assign(new Error('You are not authorized to perform this operation.'), { name: 'UnauthorizedOperation', $metadata: {} });
    ec2Mock.on(TerminateInstancesCommand).rejects(denied);
    const bake = bakeInterruptedInThePlaybook();
    await expect(bake).rejects.toMatchObject({
      code: 'FAILED',
      message:
        'interrupted while running playbooks/image.yml; removing what the bake created then failed too (You are not authorized to perform this operation.): ' +
        'left instance i-bake, security group sg-bake: run argos staging clean to remove them',
    });
  });

  it('on Ctrl-C while waiting for the image, removes the half-made image too', async () => {
    const controller = new AbortController();
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-new' });
    ec2Mock.on(DescribeImagesCommand, { ImageIds: ['ami-new'] }).callsFake(() => {
      controller.abort(new ArgosError('INTERRUPTED', 'interrupted'));
      return { Images: [{ ImageId: 'ami-new', State: 'pending' }] };
    });
    terminateEmptiesDescribe();
    await expect(bakeImage(new EC2Client({}), spec(), { signal: controller.signal, clock: new VirtualClock() })).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(ec2Mock).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: 'ami-new' });
    expect(ec2Mock).toHaveReceivedCommand(TerminateInstancesCommand);
    expect(ec2Mock).toHaveReceivedCommand(DeleteSecurityGroupCommand);
  });
});
