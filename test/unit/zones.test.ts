/**
 * Availability zones that do not offer an instance type (t3 is not offered in
 * one us-east-1 zone): the bake, the broker and the app servers' group go only
 * to zones that offer their type (DescribeInstanceTypeOfferings); the load
 * balancer keeps every zone. The lookup with aws-sdk-client-mock; commission's
 * use of it on the modelled AWS, with the real command code.
 */
import { DescribeInstanceTypeOfferingsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { findOfferedSubnets, type DefaultVpc } from '../../src/aws/vpc.js';
import { commission } from '../../src/commands/commission.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

const vpc: DefaultVpc = {
  vpcId: 'vpc-1',
  subnets: ['a', 'b', 'c', 'd', 'e', 'f'].map((zone) => ({ subnetId: `subnet-${zone}`, availabilityZone: `us-east-1${zone}` })),
};
const offering = (zone: string) => ({ InstanceType: 't3.small' as const, LocationType: 'availability-zone' as const, Location: `us-east-1${zone}` });

describe('findOfferedSubnets', () => {
  const ec2Mock = mockClient(EC2Client);
  afterEach(() => ec2Mock.reset());

  it('leaves out the subnet of a zone that does not offer the type, over every page', async () => {
    ec2Mock
      .on(DescribeInstanceTypeOfferingsCommand)
      .resolvesOnce({ InstanceTypeOfferings: ['a', 'b', 'c'].map(offering), NextToken: 'page-2' })
      .resolvesOnce({ InstanceTypeOfferings: ['d', 'f'].map(offering) });
    const subnets = await findOfferedSubnets(new EC2Client({}), vpc, 't3.small', 'us-east-1', 'app_instance_type');
    expect(subnets.map((subnet) => subnet.subnetId)).toEqual(['subnet-a', 'subnet-b', 'subnet-c', 'subnet-d', 'subnet-f']);
    expect(ec2Mock.commandCalls(DescribeInstanceTypeOfferingsCommand).map((call) => call.args[0].input)).toEqual([
      { LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: ['t3.small'] }] },
      { LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: ['t3.small'] }], NextToken: 'page-2' },
    ]);
  });

  it('is a CONFIG error naming the type, where it comes from, the region and the zones when no zone offers it', async () => {
    ec2Mock.on(DescribeInstanceTypeOfferingsCommand).resolves({ InstanceTypeOfferings: [] });
    await expect(findOfferedSubnets(new EC2Client({}), vpc, 'x9.huge', 'us-east-1', 'broker_instance_type')).rejects.toMatchObject({
      code: 'CONFIG',
      message:
        "instance type x9.huge (broker_instance_type) is offered in none of the default VPC's zones in us-east-1 " +
        '(us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f): ' +
        'choose a type offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone)',
    });
  });
});

describe('commission in a region where a zone does not offer t3.small', () => {
  let run: ModelledRun | undefined;
  afterEach(async () => {
    await run?.dispose();
    run = undefined;
  });

  it('bakes, launches the broker and the group only where t3.small is offered; the load balancer spans every zone', async () => {
    // GIVEN the model's first zone (where everything used to go) without t3.small
    run = await createModelledRun({ options: { withBroker: true, deploy: false } });
    run.aws.state.notOffered.push({ instanceType: 't3.small', availabilityZone: 'us-east-1a' });
    // WHEN commissioning
    await commission(run.ctx);
    // THEN no instance was launched in us-east-1a, and the group cannot launch there
    const inputs = (operation: string) => run!.aws.calls.filter((call) => call.operation === operation).map((call) => call.input as Record<string, unknown>);
    expect(inputs('RunInstances').map((input) => input['SubnetId'])).toEqual(['subnet-0model1b', 'subnet-0model1b']);
    expect(inputs('CreateAutoScalingGroup').map((input) => input['VPCZoneIdentifier'])).toEqual(['subnet-0model1b,subnet-0model1c']);
    expect(inputs('CreateLoadBalancer').map((input) => input['Subnets'])).toEqual([['subnet-0model1a', 'subnet-0model1b', 'subnet-0model1c']]);

    // AND the dry run that follows compares with the same subnets: nothing to change
    const dry = { ...run.ctx, options: { ...run.ctx.options, dryRun: true } };
    await commission(dry);
    const plan = run.reporter.lines.map((line) => line.message).find((message) => message.startsWith('dry run'));
    expect(plan).toContain('app servers');
    expect(plan).not.toMatch(/subnets/);
  });

  it('refuses before creating anything when no zone offers the app servers type', async () => {
    run = await createModelledRun({ options: { deploy: false } });
    for (const subnet of run.aws.state.subnets) run.aws.state.notOffered.push({ instanceType: 't3.small', availabilityZone: subnet.availabilityZone });
    await expect(commission(run.ctx)).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(/^instance type t3\.small \(app_instance_type\) is offered in none/) });
    expect(run.aws.calls.filter((call) => call.operation.startsWith('Create') || call.operation === 'RunInstances')).toEqual([]);
  });
});
