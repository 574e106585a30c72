/**
 * The app servers' paths moto cannot produce: instances that never come into
 * service, a group created between the lookup and the create, a load balancer
 * not visible right after its create, instances slow to terminate; and the
 * pure builders of the launch template.
 */
import {
  AlreadyExistsFault,
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribePoliciesCommand,
  PutScalingPolicyCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  AccessPointNotFoundException,
  ConfigureHealthCheckCommand,
  CreateLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient,
  ModifyLoadBalancerAttributesCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { deleteAutoScalingGroup, ensureAutoScalingGroup, type AutoScalingGroupSpec } from '../../src/autoscaling/group.js';
import { waitForInService } from '../../src/autoscaling/in-service.js';
import { buildLaunchTemplateData, ensureLaunchTemplate, launchTemplateName, type LaunchTemplateSpec } from '../../src/autoscaling/launch-template.js';
import { ensureLoadBalancer, hasHttpsListener, urlOf } from '../../src/autoscaling/load-balancer.js';
import { replaceOutdatedInstances } from '../../src/autoscaling/replace-instances.js';
import { ensureScalingPolicy } from '../../src/autoscaling/scaling-policy.js';
import { ArgosError } from '../../src/errors.js';
import { makeNames, makeTags, toAutoScalingTags } from '../../src/names.js';
import { VirtualClock } from '../support/virtual-clock.js';

const MINUTE = 60_000;
const names = makeNames('argos', 'staging');
const subnets = [
  { subnetId: 'subnet-a', availabilityZone: 'us-east-1a' },
  { subnetId: 'subnet-b', availabilityZone: 'us-east-1b' },
];
const autoScalingMock = mockClient(AutoScalingClient);
const elbMock = mockClient(ElasticLoadBalancingClient);
const ec2Mock = mockClient(EC2Client);

beforeEach(() => {
  autoScalingMock.reset();
  elbMock.reset();
  ec2Mock.reset();
});

const run = (clock = new VirtualClock()) => ({ signal: new AbortController().signal, clock });

const groupSpec: AutoScalingGroupSpec = {
  names,
  launchTemplateName: 'argos-staging-app-0a1b2c3d',
  instanceSubnets: subnets,
  minSize: 2,
  maxSize: 4,
};

/** A group as DescribeAutoScalingGroups shows one that matches `groupSpec`. */
function existingGroup(overrides: Partial<AutoScalingGroup> = {}): AutoScalingGroup {
  return {
    AutoScalingGroupName: 'argos-staging-app',
    LaunchTemplate: { LaunchTemplateName: 'argos-staging-app-0a1b2c3d', Version: '$Default' },
    MinSize: 2,
    MaxSize: 4,
    DesiredCapacity: 2,
    DefaultCooldown: 300,
    AvailabilityZones: ['us-east-1a', 'us-east-1b'],
    VPCZoneIdentifier: 'subnet-a,subnet-b',
    LoadBalancerNames: ['argos-staging-elb'],
    HealthCheckType: 'ELB',
    HealthCheckGracePeriod: 300,
    TerminationPolicies: ['OldestLaunchTemplate', 'Default'],
    CreatedTime: new Date(),
    Tags: toAutoScalingTags('argos-staging-app', makeTags({ app: 'argos', env: 'staging', group: 'app' }, 'argos-staging-app')),
    ...overrides,
  };
}

describe('waitForInService', () => {
  it('fails after the 15-minute bound with a TIMEOUT naming each instance and its health', async () => {
    // GIVEN a group whose instances never pass the load balancer's health check
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        existingGroup({
          Instances: [
            { InstanceId: 'i-1', LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1a', ProtectedFromScaleIn: false },
            { InstanceId: 'i-2', LifecycleState: 'Pending', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: false },
          ],
        }),
      ],
    });
    elbMock.on(DescribeInstanceHealthCommand).resolves({
      InstanceStates: [
        {
          InstanceId: 'i-1',
          State: 'OutOfService',
          ReasonCode: 'Instance',
          Description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.',
        },
      ],
    });
    const clock = new VirtualClock();
    const started = clock.now();
    // WHEN waiting for two instances in service
    const wait = waitForInService(
      new AutoScalingClient({}),
      new ElasticLoadBalancingClient({}),
      {
        groupName: 'argos-staging-app',
        loadBalancerName: 'argos-staging-elb',
        count: 2,
        healthCheckTarget: 'HTTP:8000/health',
        inspect: { app: 'argos', env: 'staging', user: 'ubuntu', keyFile: 'keys/argos-test.pem' },
      },
      run(clock),
    );
    // THEN it fails once 15 minutes have passed, saying which instance is where and what to check
    const error = await wait.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ArgosError);
    expect(error).toMatchObject({ code: 'TIMEOUT', exitCode: 1 });
    const message = (error as Error).message;
    expect(message).toMatch(/^timed out after 15m00s: fewer than 2 instance\(s\) of argos-staging-app are in service behind argos-staging-elb/);
    expect(message).toContain(
      'i-1 group InService/Healthy, load balancer OutOfService (Instance has failed at least the UnhealthyThreshold number of health checks consecutively.)',
    );
    expect(message).toContain('i-2 group Pending/Healthy, load balancer not registered');
    // ... naming the check, the instance that fails it (not the one still pending) and where to look (issue 16)
    expect(message).toContain("The load balancer's health check HTTP:8000/health fails on i-1: the app must answer it with HTTP 200");
    expect(message).toContain('ssh -i keys/argos-test.pem ubuntu@<address> sudo journalctl -u argos-uwsgi -n 100 (each instance\'s address is in hosts/hosts_staging, or see argos staging status');
    expect(clock.now() - started).toBe(15 * MINUTE);
  });

  it('returns the instances once enough are in service in the group and behind the load balancer, noting progress', async () => {
    // GIVEN two instances, the second coming into service at the load balancer on the third poll
    const instances = ['i-1', 'i-2'].map((InstanceId) => ({
      InstanceId,
      LifecycleState: 'InService' as const,
      HealthStatus: 'Healthy',
      AvailabilityZone: 'us-east-1a',
      ProtectedFromScaleIn: false,
    }));
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [existingGroup({ Instances: instances })] });
    const outOfService = { InstanceId: 'i-2', State: 'OutOfService', Description: 'Instance registration is still in progress.' };
    elbMock
      .on(DescribeInstanceHealthCommand)
      .resolvesOnce({ InstanceStates: [{ InstanceId: 'i-1', State: 'InService' }, outOfService] })
      .resolvesOnce({ InstanceStates: [{ InstanceId: 'i-1', State: 'InService' }, outOfService] })
      .resolves({ InstanceStates: [{ InstanceId: 'i-2', State: 'InService' }, { InstanceId: 'i-1', State: 'InService' }] });
    const notes: string[] = [];
    // WHEN waiting for two
    const ids = await waitForInService(
      new AutoScalingClient({}),
      new ElasticLoadBalancingClient({}),
      { groupName: 'argos-staging-app', loadBalancerName: 'argos-staging-elb', count: 2 },
      { ...run(), onProgress: (note) => notes.push(note) },
    );
    // THEN both are returned after three polls, and each wait was noted
    expect(ids).toEqual(['i-1', 'i-2']);
    expect(elbMock).toHaveReceivedCommandTimes(DescribeInstanceHealthCommand, 3);
    expect(notes).toEqual([
      '1 of 2 in service: i-1 group InService/Healthy, load balancer InService; i-2 group InService/Healthy, load balancer OutOfService (Instance registration is still in progress.)',
      '1 of 2 in service: i-1 group InService/Healthy, load balancer InService; i-2 group InService/Healthy, load balancer OutOfService (Instance registration is still in progress.)',
    ]);
  });

  it('stops at once when the run is interrupted', async () => {
    // GIVEN a group with no instance yet and a run interrupted during the first poll
    const controller = new AbortController();
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).callsFake(() => {
      controller.abort(new ArgosError('INTERRUPTED', 'interrupted'));
      return { AutoScalingGroups: [existingGroup({ Instances: [] })] };
    });
    elbMock.on(DescribeInstanceHealthCommand).resolves({ InstanceStates: [] });
    // WHEN waiting
    const wait = waitForInService(
      new AutoScalingClient({}),
      new ElasticLoadBalancingClient({}),
      { groupName: 'argos-staging-app', loadBalancerName: 'argos-staging-elb', count: 1 },
      { signal: controller.signal, clock: new VirtualClock() },
    );
    // THEN it fails as interrupted after that one poll
    await expect(wait).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(autoScalingMock).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 1);
  });
});

describe('ensureAutoScalingGroup', () => {
  it('creates the group with the template, subnets, load balancer, ELB health check and propagated tags', async () => {
    // GIVEN no group
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    autoScalingMock.on(CreateAutoScalingGroupCommand).resolves({});
    // WHEN ensuring it
    const result = await ensureAutoScalingGroup(new AutoScalingClient({}), groupSpec);
    // THEN it is created as specified, starting at min size
    expect(result).toEqual({ name: 'argos-staging-app', created: true, changes: [] });
    expect(autoScalingMock).toHaveReceivedCommandWith(CreateAutoScalingGroupCommand, {
      AutoScalingGroupName: 'argos-staging-app',
      LaunchTemplate: { LaunchTemplateName: 'argos-staging-app-0a1b2c3d', Version: '$Default' },
      MinSize: 2,
      MaxSize: 4,
      DesiredCapacity: 2,
      VPCZoneIdentifier: 'subnet-a,subnet-b',
      LoadBalancerNames: ['argos-staging-elb'],
      HealthCheckType: 'ELB',
      HealthCheckGracePeriod: 300,
    });
    const tags = autoScalingMock.commandCalls(CreateAutoScalingGroupCommand)[0]?.args[0].input.Tags;
    expect(tags).toContainEqual({ ResourceId: 'argos-staging-app', ResourceType: 'auto-scaling-group', Key: 'ManagedBy', Value: 'argos', PropagateAtLaunch: true });
    expect(tags?.every((tag) => tag.PropagateAtLaunch === true)).toBe(true);
  });

  it('treats AlreadyExists from the create (a group created meanwhile) as "exists", not a failure', async () => {
    // GIVEN no group at the lookup, but one created by another run before the create
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({ AutoScalingGroups: [] })
      .resolves({ AutoScalingGroups: [existingGroup()] });
    autoScalingMock
      .on(CreateAutoScalingGroupCommand)
      .rejects(new AlreadyExistsFault({ message: 'AutoScalingGroup by this name already exists', $metadata: {} }));
    // WHEN ensuring it
    const result = await ensureAutoScalingGroup(new AutoScalingClient({}), groupSpec);
    // THEN it reports the group as existing, unchanged, and updates nothing
    expect(result).toEqual({ name: 'argos-staging-app', created: false, changes: [] });
    expect(autoScalingMock).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 2);
    expect(autoScalingMock).not.toHaveReceivedCommand(UpdateAutoScalingGroupCommand);
  });

  it('converges a group created meanwhile with other sizes', async () => {
    // GIVEN a group created between the lookup and the create, with max size 3
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({ AutoScalingGroups: [] })
      .resolves({ AutoScalingGroups: [existingGroup({ MaxSize: 3 })] });
    autoScalingMock.on(CreateAutoScalingGroupCommand).rejects(Object.assign(new Error('exists'), { name: 'AlreadyExists', $metadata: {} }));
    autoScalingMock.on(UpdateAutoScalingGroupCommand).resolves({});
    // WHEN ensuring it with max size 4
    const result = await ensureAutoScalingGroup(new AutoScalingClient({}), groupSpec);
    // THEN it is brought to max size 4
    expect(result).toEqual({ name: 'argos-staging-app', created: false, changes: ['max size 3 → 4'] });
    expect(autoScalingMock).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, { AutoScalingGroupName: 'argos-staging-app', MaxSize: 4 });
  });

  it('rethrows any other create failure', async () => {
    // GIVEN a create AWS refuses
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    autoScalingMock.on(CreateAutoScalingGroupCommand).rejects(Object.assign(new Error('limit reached'), { name: 'LimitExceeded', $metadata: {} }));
    // WHEN ensuring the group THEN that error surfaces
    await expect(ensureAutoScalingGroup(new AutoScalingClient({}), groupSpec)).rejects.toThrow('limit reached');
  });

  it("leaves the scaling policy's desired capacity alone unless the new sizes exclude it", async () => {
    // GIVEN a group scaled out to 4 by its policy
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [existingGroup({ MaxSize: 6, DesiredCapacity: 4 })] });
    autoScalingMock.on(UpdateAutoScalingGroupCommand).resolves({});
    // WHEN ensured with max size 6 (unchanged) THEN nothing is updated
    expect(await ensureAutoScalingGroup(new AutoScalingClient({}), { ...groupSpec, maxSize: 6 })).toMatchObject({ changes: [] });
    expect(autoScalingMock).not.toHaveReceivedCommand(UpdateAutoScalingGroupCommand);
    // WHEN ensured with max size 3 THEN desired comes down to 3 with it
    const result = await ensureAutoScalingGroup(new AutoScalingClient({}), { ...groupSpec, maxSize: 3 });
    expect(result.changes).toEqual(['max size 6 → 3', 'desired capacity 4 → 3']);
    expect(autoScalingMock).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, { MaxSize: 3, DesiredCapacity: 3 });
  });
});

describe('ensureScalingPolicy', () => {
  it('puts the policy again when its CPU target differs, and says so', async () => {
    // GIVEN a policy holding 60% CPU
    autoScalingMock.on(DescribePoliciesCommand).resolves({
      ScalingPolicies: [
        {
          PolicyName: 'argos-staging-app-cpu-target',
          PolicyType: 'TargetTrackingScaling',
          TargetTrackingConfiguration: { TargetValue: 60, PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' } },
        },
      ],
    });
    autoScalingMock.on(PutScalingPolicyCommand).resolves({});
    // WHEN ensured with 70%
    const result = await ensureScalingPolicy(new AutoScalingClient({}), { names, scalingTargetCpu: 70 });
    // THEN the target is updated
    expect(result).toEqual({ name: 'argos-staging-app-cpu-target', created: false, changes: ['CPU target 60% → 70%'] });
    expect(autoScalingMock).toHaveReceivedCommandWith(PutScalingPolicyCommand, {
      AutoScalingGroupName: 'argos-staging-app',
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: { TargetValue: 70, PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' } },
    });
  });
});

const templateSpec: LaunchTemplateSpec = {
  names,
  imageId: 'ami-0123456789abcdef0',
  instanceType: 't3.small',
  keyName: 'argos',
  appSecurityGroupId: 'sg-app',
  rootVolumeSize: 16,
};

describe('launch template data', () => {
  it('requires IMDSv2, encrypts the root volume at the image root device and writes the environment', () => {
    // WHEN building the template data
    const data = buildLaunchTemplateData(templateSpec, '/dev/xvda');
    // THEN it holds what the safety notes promise
    expect(data.MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' });
    expect(data.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 16, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } },
    ]);
    expect(data.SecurityGroupIds).toEqual(['sg-app']);
    const script = Buffer.from(data.UserData ?? '', 'base64').toString('utf8');
    expect(script).toContain("echo 'ARGOS_ENV=staging' >> /etc/environment");
    expect(script).toContain("echo 'APP_NAME=argos' >> /etc/environment");
    expect(data.TagSpecifications?.map((entry) => entry.ResourceType)).toEqual(['instance', 'volume']);
  });

  it('names the template by a hash of its settings: same settings same name, new instance type new name', () => {
    const name = launchTemplateName(names, buildLaunchTemplateData(templateSpec, '/dev/xvda'));
    expect(name).toMatch(/^argos-staging-app-[0-9a-f]{8}$/);
    expect(launchTemplateName(names, buildLaunchTemplateData({ ...templateSpec }, '/dev/xvda'))).toBe(name);
    expect(launchTemplateName(names, buildLaunchTemplateData({ ...templateSpec, instanceType: 't3.medium' }, '/dev/xvda'))).not.toBe(name);
    expect(launchTemplateName(names, buildLaunchTemplateData({ ...templateSpec, imageId: 'ami-0fedcba9876543210' }, '/dev/xvda'))).not.toBe(name);
  });

  it("makes a worker's template a worker: Group=worker tags, its own name, user data that enables the worker (the app servers' data untouched)", () => {
    // GIVEN the same settings for both tiers
    const app = buildLaunchTemplateData(templateSpec, '/dev/xvda');
    const worker = buildLaunchTemplateData({ ...templateSpec, tier: 'worker' }, '/dev/xvda');
    // THEN the worker's is named and tagged as the workers'
    expect(launchTemplateName(names, worker, 'worker')).toMatch(/^argos-staging-worker-[0-9a-f]{8}$/);
    expect(worker.TagSpecifications?.[0]?.Tags).toEqual(expect.arrayContaining([{ Key: 'Group', Value: 'worker' }, { Key: 'Name', Value: 'argos-staging-worker' }]));
    // and its user data writes the environment, then makes a worker of the release image's instance
    const script = Buffer.from(worker.UserData ?? '', 'base64').toString('utf8');
    expect(script).toContain("echo 'ARGOS_ENV=staging' >> /etc/environment");
    expect(script.indexOf("systemctl disable --now --no-block nginx.service 'argos-uwsgi.service' || true")).toBeGreaterThan(script.indexOf('APP_NAME='));
    expect(script).toContain("if systemctl cat 'argos-worker.service' >/dev/null 2>&1; then systemctl enable --now --no-block 'argos-worker.service'; fi");
    // while the app servers' user data (and so their template's name) is what it always was
    expect(Buffer.from(app.UserData ?? '', 'base64').toString('utf8')).not.toContain('systemctl');
    expect(launchTemplateName(names, app)).toBe(launchTemplateName(names, buildLaunchTemplateData({ ...templateSpec, tier: 'app' }, '/dev/xvda')));
  });

  it('treats a template created meanwhile as existing', async () => {
    // GIVEN no template at the lookup, one by the same name at the create
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: templateSpec.imageId, RootDeviceName: '/dev/xvda' }] });
    ec2Mock
      .on(DescribeLaunchTemplatesCommand)
      .rejectsOnce(Object.assign(new Error('not found'), { name: 'InvalidLaunchTemplateName.NotFoundException', $metadata: {} }))
      .resolves({ LaunchTemplates: [{ LaunchTemplateId: 'lt-1', LaunchTemplateName: 'x', Tags: makeTags({ app: 'argos', env: 'staging', group: 'app' }, 'x') }] });
    ec2Mock
      .on(CreateLaunchTemplateCommand)
      .rejects(Object.assign(new Error('Launch template name already in use.'), { name: 'InvalidLaunchTemplateName.AlreadyExistsException', $metadata: {} }));
    // WHEN ensuring it THEN it is reported as existing
    const result = await ensureLaunchTemplate(new EC2Client({}), templateSpec);
    expect(result).toMatchObject({ id: 'lt-1', created: false, changes: [] });
    expect(result.name).toMatch(/^argos-staging-app-[0-9a-f]{8}$/);
  });

  it('fails saying to bake the image again when the image is gone', async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    await expect(ensureLaunchTemplate(new EC2Client({}), templateSpec)).rejects.toMatchObject({
      code: 'FAILED',
      message: expect.stringContaining('the image ami-0123456789abcdef0 for the app servers does not exist'),
    });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateLaunchTemplateCommand);
  });
});

describe('ensureLoadBalancer', () => {
  it('retries the health check while a just-created load balancer is not visible yet', async () => {
    // GIVEN no load balancer, and one that AWS does not show for two calls after its create
    elbMock
      .on(DescribeLoadBalancersCommand)
      .rejects(new AccessPointNotFoundException({ message: 'There is no ACTIVE Load Balancer named argos-staging-elb', $metadata: {} }));
    elbMock.on(CreateLoadBalancerCommand).resolves({ DNSName: 'argos-staging-elb-1.us-east-1.elb.amazonaws.com' });
    elbMock
      .on(ConfigureHealthCheckCommand)
      .rejectsOnce(new AccessPointNotFoundException({ message: 'not yet', $metadata: {} }))
      .rejectsOnce(new AccessPointNotFoundException({ message: 'not yet', $metadata: {} }))
      .resolves({});
    elbMock.on(ModifyLoadBalancerAttributesCommand).resolves({});
    const clock = new VirtualClock();
    // WHEN ensuring it
    const result = await ensureLoadBalancer(
      new ElasticLoadBalancingClient({}),
      { names, subnets, elbSecurityGroupId: 'sg-elb', appPort: 8000, healthCheckPath: '/health' },
      run(clock),
    );
    // THEN it is created with its health check and attributes, after two retries
    expect(result).toEqual({ name: 'argos-staging-elb', dnsName: 'argos-staging-elb-1.us-east-1.elb.amazonaws.com', created: true, changes: [] });
    expect(elbMock).toHaveReceivedCommandTimes(ConfigureHealthCheckCommand, 3);
    expect(elbMock).toHaveReceivedCommandWith(ConfigureHealthCheckCommand, {
      HealthCheck: { Target: 'HTTP:8000/health', Interval: 10, Timeout: 5, HealthyThreshold: 2, UnhealthyThreshold: 3 },
    });
    expect(elbMock).toHaveReceivedCommandWith(ModifyLoadBalancerAttributesCommand, {
      LoadBalancerAttributes: { CrossZoneLoadBalancing: { Enabled: true }, ConnectionDraining: { Enabled: true, Timeout: 60 } },
    });
    expect(clock.sleeps).toHaveLength(2);
  });
});

describe('deleteAutoScalingGroup', () => {
  it('waits until the instances a force delete left are terminated', async () => {
    // GIVEN a group with two instances that take two polls to terminate
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({
        AutoScalingGroups: [
          existingGroup({
            Instances: [
              { InstanceId: 'i-1', LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1a', ProtectedFromScaleIn: false },
              { InstanceId: 'i-2', LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: false },
            ],
          }),
        ],
      })
      .resolves({ AutoScalingGroups: [] });
    autoScalingMock.on(DeleteAutoScalingGroupCommand).resolves({});
    const shuttingDown = { Reservations: [{ Instances: [{ InstanceId: 'i-1' }, { InstanceId: 'i-2' }] }] };
    ec2Mock.on(DescribeInstancesCommand).resolvesOnce(shuttingDown).resolvesOnce(shuttingDown).resolves({ Reservations: [] });
    const notes: string[] = [];
    // WHEN deleting
    const result = await deleteAutoScalingGroup(
      { ec2: new EC2Client({}), autoScaling: new AutoScalingClient({}) },
      names,
      { ...run(), onProgress: (note) => notes.push(note) },
    );
    // THEN it force-deleted the group and returned only once no instance was left
    expect(result).toEqual({ existed: true, instanceIds: ['i-1', 'i-2'] });
    expect(autoScalingMock).toHaveReceivedCommandWith(DeleteAutoScalingGroupCommand, { AutoScalingGroupName: 'argos-staging-app', ForceDelete: true });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 3);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'tag:aws:autoscaling:groupName', Values: ['argos-staging-app'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    });
    expect(notes).toContain('group gone; instances not terminated yet: i-1, i-2');
  });

  it('succeeds without deleting anything when the group is already gone', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const result = await deleteAutoScalingGroup({ ec2: new EC2Client({}), autoScaling: new AutoScalingClient({}) }, names, run());
    expect(result).toEqual({ existed: false, instanceIds: [] });
    expect(autoScalingMock).not.toHaveReceivedCommand(DeleteAutoScalingGroupCommand);
  });

  it('fails with a TIMEOUT naming the instances that never terminate', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-9' }] }] });
    await expect(
      deleteAutoScalingGroup({ ec2: new EC2Client({}), autoScaling: new AutoScalingClient({}) }, names, run()),
    ).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringContaining('(last state: group gone; instances not terminated yet: i-9)'),
    });
  });
});

describe('replaceOutdatedInstances', () => {
  it('grows the group first, waits for the new instances, then terminates the old ones and restores the max size', async () => {
    // GIVEN a group at its max of 2, both instances launched from an older template
    const inService = (InstanceId: string) => ({
      InstanceId,
      LifecycleState: 'InService' as const,
      HealthStatus: 'Healthy',
      AvailabilityZone: 'us-east-1a',
      ProtectedFromScaleIn: false,
    });
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({ AutoScalingGroups: [existingGroup({ MaxSize: 2, Instances: [inService('i-old1'), inService('i-old2')] })] })
      .resolves({
        AutoScalingGroups: [
          existingGroup({ MaxSize: 4, DesiredCapacity: 4, Instances: ['i-old1', 'i-old2', 'i-new1', 'i-new2'].map(inService) }),
        ],
      });
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: ['i-old1', 'i-old2'].map((InstanceId) => ({ InstanceId, Tags: [{ Key: 'aws:ec2launchtemplate:id', Value: 'lt-old' }] })) },
      ],
    });
    // (the new instances pass their health check at the second poll)
    elbMock
      .on(DescribeInstanceHealthCommand)
      .resolvesOnce({
        InstanceStates: [
          ...['i-old1', 'i-old2'].map((InstanceId) => ({ InstanceId, State: 'InService' })),
          ...['i-new1', 'i-new2'].map((InstanceId) => ({ InstanceId, State: 'OutOfService' })),
        ],
      })
      .resolves({
        InstanceStates: ['i-old1', 'i-old2', 'i-new1', 'i-new2'].map((InstanceId) => ({ InstanceId, State: 'InService' })),
      });
    autoScalingMock.on(UpdateAutoScalingGroupCommand).resolves({});
    autoScalingMock.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});
    // WHEN replacing the instances not launched from lt-new
    const replaced = await replaceOutdatedInstances(
      { ec2: new EC2Client({}), autoScaling: new AutoScalingClient({}), elb: new ElasticLoadBalancingClient({}) },
      { names, launchTemplateId: 'lt-new' },
      run(),
    );
    // THEN the group grew to 4 (max raised), the old two went with the capacity decremented, and max is back at 2
    expect(replaced).toEqual(['i-old1', 'i-old2']);
    // (the group's instances are looked up by an id filter, so one EC2 has already forgotten cannot fail the call)
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'instance-id', Values: ['i-old1', 'i-old2'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    });
    const updates = autoScalingMock.commandCalls(UpdateAutoScalingGroupCommand).map((call) => call.args[0].input);
    expect(updates).toEqual([
      { AutoScalingGroupName: 'argos-staging-app', DesiredCapacity: 4, MaxSize: 4 },
      { AutoScalingGroupName: 'argos-staging-app', MaxSize: 2 },
    ]);
    const terminations = autoScalingMock.commandCalls(TerminateInstanceInAutoScalingGroupCommand).map((call) => call.args[0].input);
    expect(terminations).toEqual([
      { InstanceId: 'i-old1', ShouldDecrementDesiredCapacity: true },
      { InstanceId: 'i-old2', ShouldDecrementDesiredCapacity: true },
    ]);
    // AND the old instances did not count: the wait lasted until the new ones were in service, before any termination
    expect(elbMock).toHaveReceivedCommandTimes(DescribeInstanceHealthCommand, 2);
    const order = autoScalingMock.calls().map((call) => call.args[0].constructor.name);
    expect(order.indexOf('TerminateInstanceInAutoScalingGroupCommand')).toBeGreaterThan(order.lastIndexOf('DescribeAutoScalingGroupsCommand'));
  });
});

describe('the URL status and commission print', () => {
  it('is https:// only when the load balancer has an HTTPS listener on 443', () => {
    const withListeners = (...listeners: { Protocol: string; LoadBalancerPort: number }[]) => ({ ListenerDescriptions: listeners.map((l) => ({ Listener: { ...l, InstancePort: 8000 } })) });
    expect(hasHttpsListener(withListeners({ Protocol: 'HTTP', LoadBalancerPort: 80 }))).toBe(false);
    expect(hasHttpsListener(withListeners({ Protocol: 'HTTP', LoadBalancerPort: 80 }, { Protocol: 'HTTPS', LoadBalancerPort: 443 }))).toBe(true);
    // A TCP pass-through on 443 is the user's, not argos's TLS.
    expect(hasHttpsListener(withListeners({ Protocol: 'TCP', LoadBalancerPort: 443 }))).toBe(false);
    expect(urlOf('shop-web-elb-1.us-east-1.elb.amazonaws.com', true)).toBe('https://shop-web-elb-1.us-east-1.elb.amazonaws.com');
    expect(urlOf('shop-web-elb-1.us-east-1.elb.amazonaws.com', false)).toBe('http://shop-web-elb-1.us-east-1.elb.amazonaws.com');
  });
});
