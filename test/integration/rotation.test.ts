/**
 * The rolling deploy's suspension of the group's health replacement, against
 * moto: only what argos suspended is resumed. (Taking instances out of the
 * load balancer is tested on a modelled load balancer in
 * test/unit/rotation.test.ts: moto 5.2.1 keeps a group's instances registered
 * after DeregisterInstancesFromLoadBalancer, which AWS does not.)
 */
import { CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand } from '@aws-sdk/client-ec2';
import { CreateLoadBalancerCommand } from '@aws-sdk/client-elastic-load-balancing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumeHealthReplacement, suspendHealthReplacement } from '../../src/autoscaling/rotation.js';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { findDefaultVpc } from '../../src/aws/vpc.js';
import { MOTO_AMI } from '../support/aws-fixtures.js';

let clients: AwsClients;
const GROUP = 'roll-web-app';
const LB = 'roll-web-elb';

async function suspended(): Promise<string[]> {
  const group = (await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }))).AutoScalingGroups?.[0];
  return (group?.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? '').sort();
}

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  const vpc = await findDefaultVpc(clients.ec2, 'us-east-1');
  const subnets = vpc.subnets.slice(0, 2).map((s) => s.subnetId);
  await clients.elb.send(new CreateLoadBalancerCommand({ LoadBalancerName: LB, Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstancePort: 8000 }], Subnets: subnets }));
  await clients.ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'roll-web-app', LaunchTemplateData: { ImageId: MOTO_AMI, InstanceType: 't3.small' } }));
  await clients.autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: GROUP,
      LaunchTemplate: { LaunchTemplateName: 'roll-web-app' },
      MinSize: 3,
      MaxSize: 3,
      DesiredCapacity: 3,
      LoadBalancerNames: [LB],
      VPCZoneIdentifier: subnets.join(','),
    }),
  );
});
afterAll(() => clients.destroy());

describe('health replacement during a rolling deploy', () => {
  it('suspends health replacement for the deploy and resumes only what it suspended', async () => {
    // The user had suspended ReplaceUnhealthy themselves: it stays suspended after the deploy.
    await clients.autoScaling.send(new SuspendProcessesCommand({ AutoScalingGroupName: GROUP, ScalingProcesses: ['ReplaceUnhealthy'] }));
    const ours = await suspendHealthReplacement(clients.autoScaling, GROUP);
    expect(ours).toEqual(['HealthCheck']);
    expect(await suspended()).toEqual(['HealthCheck', 'ReplaceUnhealthy']);
    await resumeHealthReplacement(clients.autoScaling, GROUP, ours);
    expect(await suspended()).toEqual(['ReplaceUnhealthy']);
  });
});
