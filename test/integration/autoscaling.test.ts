import { DescribeAutoScalingGroupsCommand, DescribePoliciesCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import type { InitializeMiddleware } from '@aws-sdk/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { findDefaultVpc, findOfferedSubnets, type DefaultVpc } from '../../src/aws/vpc.js';
import { deleteAppServers, ensureAppServers, scalingPolicyName, type AppServersSpec } from '../../src/autoscaling.js';
import { makeNames, toTagFilters } from '../../src/names.js';
import { createKeyPair, createSecurityGroup, describeInstances, MOTO_AMI, tagRecord } from '../support/aws-fixtures.js';

const APP = 'shop';
const standardTags = (env: string, group: string, name: string) => ({ Name: name, App: APP, Env: env, Group: group, ManagedBy: 'argos' });

let clients: AwsClients;
let vpc: DefaultVpc;
/** The default VPC's subnets in zones that offer t3.small (moto, like AWS, leaves out us-east-1e). */
let offered: DefaultVpc['subnets'];
let appSecurityGroupId: string;
let elbSecurityGroupId: string;
let keyName: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  vpc = await findDefaultVpc(clients.ec2, 'us-east-1');
  offered = await findOfferedSubnets(clients.ec2, vpc, 't3.small', 'us-east-1', 'app_instance_type');
  appSecurityGroupId = await createSecurityGroup(clients.ec2, vpc.vpcId, 'shop-test-app');
  elbSecurityGroupId = await createSecurityGroup(clients.ec2, vpc.vpcId, 'shop-test-elb');
  keyName = await createKeyPair(clients.ec2, 'shop-test');
});
afterAll(() => clients.destroy());

/** A spec for environment `env` (each test its own, so tests do not depend on each other). */
function specFor(env: string, overrides: Partial<AppServersSpec> = {}): AppServersSpec {
  return {
    names: makeNames(APP, env),
    imageId: MOTO_AMI,
    instanceType: 't3.small',
    keyName,
    appSecurityGroupId,
    elbSecurityGroupId,
    subnets: vpc.subnets,
    instanceSubnets: offered,
    appPort: 8000,
    healthCheckPath: '/health',
    rootVolumeSize: 16,
    minSize: 2,
    maxSize: 4,
    scalingTargetCpu: 55,
    ...overrides,
  };
}

const run = () => ({ signal: new AbortController().signal });

async function describeGroup(name: string) {
  const response = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return response.AutoScalingGroups?.[0];
}

async function templatesOf(env: string): Promise<string[]> {
  const response = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: toTagFilters({ app: APP, env, group: 'app' }) }));
  return (response.LaunchTemplates ?? []).map((template) => template.LaunchTemplateName ?? '').sort();
}

async function inServiceAtElb(name: string): Promise<string[]> {
  const response = await clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: name }));
  return (response.InstanceStates ?? [])
    .filter((state) => state.State === 'InService')
    .map((state) => state.InstanceId ?? '')
    .sort();
}

/** Records the name of every command the clients send, to tell reads from writes. */
function recordCommands(): string[] {
  const sent: string[] = [];
  const recorder =
    <Input extends object, Output extends object>(): InitializeMiddleware<Input, Output> =>
    (next, context) =>
    async (args) => {
      sent.push(context.commandName ?? 'unknown');
      return next(args);
    };
  clients.ec2.middlewareStack.add(recorder(), { step: 'initialize' });
  clients.autoScaling.middlewareStack.add(recorder(), { step: 'initialize' });
  clients.elb.middlewareStack.add(recorder(), { step: 'initialize' });
  return sent;
}

describe('ensureAppServers against moto', () => {
  it('launches min_size instances, registered with the load balancer, and returns its URL', async () => {
    // GIVEN an environment with no app servers
    const spec = specFor('launch');
    // WHEN the app servers are ensured
    const result = await ensureAppServers(clients, spec, run());
    // THEN every part was created and min_size instances are in service in the group and behind the load balancer
    expect(result.launchTemplate.created).toBe(true);
    expect(result.loadBalancer).toMatchObject({ name: 'shop-launch-elb', created: true });
    expect(result.group).toMatchObject({ name: 'shop-launch-app', created: true });
    expect(result.scalingPolicy.created).toBe(true);
    expect(result.url).toBe('http://shop-launch-elb.us-east-1.elb.amazonaws.com');
    expect(result.instanceIds).toHaveLength(2);
    const group = await describeGroup('shop-launch-app');
    expect(group).toMatchObject({
      MinSize: 2,
      MaxSize: 4,
      DesiredCapacity: 2,
      HealthCheckType: 'ELB',
      HealthCheckGracePeriod: 300,
      LoadBalancerNames: ['shop-launch-elb'],
      LaunchTemplate: { LaunchTemplateName: result.launchTemplate.name },
    });
    // The group only where t3.small is offered (moto offers it in every us-east-1 zone but 1e, as AWS does).
    const zoneE = vpc.subnets.find((subnet) => subnet.availabilityZone === 'us-east-1e')?.subnetId;
    expect(zoneE).toBeDefined();
    expect(new Set(group?.VPCZoneIdentifier?.split(','))).toEqual(new Set(vpc.subnets.filter((subnet) => subnet.subnetId !== zoneE).map((subnet) => subnet.subnetId)));
    // The load balancer on every zone's subnet (see AppServersSpec.instanceSubnets).
    const [balancer] = (await clients.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: ['shop-launch-elb'] }))).LoadBalancerDescriptions ?? [];
    expect(new Set(balancer?.Subnets)).toEqual(new Set(vpc.subnets.map((subnet) => subnet.subnetId)));
    expect((group?.Instances ?? []).map((instance) => instance.InstanceId).sort()).toEqual(result.instanceIds);
    expect(await inServiceAtElb('shop-launch-elb')).toEqual(result.instanceIds);
  });

  it('tags the template, load balancer, group and instances with the standard tags', async () => {
    // GIVEN app servers just ensured
    const result = await ensureAppServers(clients, specFor('tags'), run());
    // THEN every resource carries Name, App, Env, Group and ManagedBy
    const template = (
      await clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [result.launchTemplate.name] }))
    ).LaunchTemplates?.[0];
    expect(tagRecord(template?.Tags)).toEqual(standardTags('tags', 'app', result.launchTemplate.name));
    const elbTags = (await clients.elb.send(new DescribeTagsCommand({ LoadBalancerNames: ['shop-tags-elb'] }))).TagDescriptions?.[0]?.Tags;
    expect(tagRecord(elbTags)).toEqual(standardTags('tags', 'elb', 'shop-tags-elb'));
    const group = await describeGroup('shop-tags-app');
    expect(tagRecord(group?.Tags)).toEqual(standardTags('tags', 'app', 'shop-tags-app'));
    expect(group?.Tags?.every((tag) => tag.PropagateAtLaunch === true)).toBe(true);
    const instances = await describeInstances(clients.ec2, result.instanceIds);
    expect(instances).toHaveLength(2);
    for (const instance of instances) expect(tagRecord(instance.Tags)).toMatchObject(standardTags('tags', 'app', 'shop-tags-app'));
    // AND the template tags the volumes its instances get
    const versions = await clients.ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: result.launchTemplate.name, Versions: ['$Default'] }),
    );
    const specs = versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.TagSpecifications ?? [];
    const volumeTags = specs.find((entry) => entry.ResourceType === 'volume')?.Tags;
    // (moto does not apply a template's volume tags to the volumes of instances a group launches: read them on the template)
    expect(tagRecord(volumeTags)).toEqual(standardTags('tags', 'app', 'shop-tags-app'));
  });

  it('makes a template that requires IMDSv2, encrypts the root volume and writes the environment in user data', async () => {
    // GIVEN app servers just ensured
    const result = await ensureAppServers(clients, specFor('template', { rootVolumeSize: 20 }), run());
    // THEN the template's data is what the safety notes promise
    expect(result.launchTemplate.name).toMatch(/^shop-template-app-[0-9a-f]{8}$/);
    const versions = await clients.ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: result.launchTemplate.name, Versions: ['$Default'] }),
    );
    const data = versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
    expect(data?.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    const image = (await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [MOTO_AMI] }))).Images?.[0];
    expect(data?.BlockDeviceMappings).toEqual([
      { DeviceName: image?.RootDeviceName, Ebs: expect.objectContaining({ Encrypted: true, VolumeSize: 20, DeleteOnTermination: true }) },
    ]);
    // AND the instances' volumes at the image's root device are encrypted, of that size
    // (moto also attaches its own unencrypted /dev/sda1 to every instance: not ours, not asserted)
    const volumes = await clients.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: result.instanceIds }] }),
    );
    const roots = (volumes.Volumes ?? []).filter((volume) => volume.Attachments?.[0]?.Device === image?.RootDeviceName);
    expect(roots.map((volume) => [volume.Encrypted, volume.Size])).toEqual([
      [true, 20],
      [true, 20],
    ]);
    expect(data).toMatchObject({ ImageId: MOTO_AMI, InstanceType: 't3.small', KeyName: keyName, SecurityGroupIds: [appSecurityGroupId] });
    const script = Buffer.from(data?.UserData ?? '', 'base64').toString('utf8');
    expect(script).toMatch(/^#!\/bin\/bash\n/);
    expect(script).toContain("echo 'ARGOS_ENV=template' >> /etc/environment");
    expect(script).toContain("echo 'APP_NAME=shop' >> /etc/environment");
  });

  it('configures the load balancer: HTTP 80 to the app port, health check, cross-zone, draining', async () => {
    // GIVEN app servers just ensured
    await ensureAppServers(clients, specFor('elb', { appPort: 8080, healthCheckPath: '/up' }), run());
    // THEN moto reports the listener, health check, attributes, subnets and security group
    const lb = (await clients.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: ['shop-elb-elb'] }))).LoadBalancerDescriptions?.[0];
    expect(lb?.ListenerDescriptions?.map((description) => description.Listener)).toEqual([
      { Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: 8080 },
    ]);
    expect(lb?.HealthCheck).toEqual({ Target: 'HTTP:8080/up', Interval: 10, Timeout: 5, HealthyThreshold: 2, UnhealthyThreshold: 3 });
    expect(lb?.SecurityGroups).toEqual([elbSecurityGroupId]);
    expect(new Set(lb?.Subnets)).toEqual(new Set(vpc.subnets.map((subnet) => subnet.subnetId)));
    const attributes = (await clients.elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerName: 'shop-elb-elb' })))
      .LoadBalancerAttributes;
    expect(attributes?.CrossZoneLoadBalancing?.Enabled).toBe(true);
    expect(attributes?.ConnectionDraining).toMatchObject({ Enabled: true, Timeout: 60 });
  });

  it('puts a target-tracking policy on average CPU at the configured target', async () => {
    // GIVEN app servers ensured with a 55% CPU target
    await ensureAppServers(clients, specFor('policy'), run());
    // THEN the group has that policy
    const names = makeNames(APP, 'policy');
    const policies = (
      await clients.autoScaling.send(new DescribePoliciesCommand({ AutoScalingGroupName: 'shop-policy-app', PolicyNames: [scalingPolicyName(names)] }))
    ).ScalingPolicies;
    expect(policies).toHaveLength(1);
    expect(policies?.[0]).toMatchObject({
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: { TargetValue: 55, PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' } },
    });
  });

  it('changes nothing on a second run with the same options', async () => {
    // GIVEN app servers ensured once
    const spec = specFor('again');
    const first = await ensureAppServers(clients, spec, run());
    const sent = recordCommands();
    // WHEN ensured again with the same spec
    const second = await ensureAppServers(clients, spec, run());
    // THEN every part exists unchanged, the same instances serve, and only reads were sent
    for (const part of [second.launchTemplate, second.loadBalancer, second.group, second.scalingPolicy]) {
      expect(part).toMatchObject({ created: false, changes: [] });
    }
    expect(second.launchTemplate.name).toBe(first.launchTemplate.name);
    expect(second.replacedInstanceIds).toEqual([]);
    expect(second.deletedLaunchTemplates).toEqual([]);
    expect(second.instanceIds).toEqual(first.instanceIds);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((command) => !command.startsWith('Describe'))).toEqual([]);
    expect(await templatesOf('again')).toEqual([first.launchTemplate.name]);
  });

  it('converges to a new max size and instance type: new template, instances replaced, old template deleted', async () => {
    // GIVEN app servers of t3.small with max size 4
    const first = await ensureAppServers(clients, specFor('change'), run());
    // WHEN ensured with t3.medium and max size 6
    const second = await ensureAppServers(clients, specFor('change', { instanceType: 't3.medium', maxSize: 6 }), run());
    // THEN it says what changed
    expect(second.launchTemplate).toMatchObject({ created: true, changes: ['instance type t3.small → t3.medium'] });
    expect(second.launchTemplate.name).not.toBe(first.launchTemplate.name);
    expect(second.group.created).toBe(false);
    expect(second.group.changes).toEqual([`launch template ${first.launchTemplate.name} → ${second.launchTemplate.name}`, 'max size 4 → 6']);
    // AND the group runs the new template with the new size
    const group = await describeGroup('shop-change-app');
    expect(group).toMatchObject({ MaxSize: 6, MinSize: 2, DesiredCapacity: 2, LaunchTemplate: { LaunchTemplateName: second.launchTemplate.name } });
    // AND the old instances were replaced by t3.medium ones, in service behind the load balancer
    expect(second.replacedInstanceIds).toEqual(first.instanceIds);
    expect(second.instanceIds).toHaveLength(2);
    expect(second.instanceIds.some((id) => first.instanceIds.includes(id))).toBe(false);
    const instances = await describeInstances(clients.ec2, [...first.instanceIds, ...second.instanceIds]);
    const byId = new Map(instances.map((instance) => [instance.InstanceId, instance]));
    for (const id of first.instanceIds) expect(byId.get(id)?.State?.Name).toBe('terminated');
    for (const id of second.instanceIds) expect(byId.get(id)).toMatchObject({ InstanceType: 't3.medium', State: { Name: 'running' } });
    expect(await inServiceAtElb('shop-change-elb')).toEqual(second.instanceIds);
    // AND only the new template is left
    expect(second.deletedLaunchTemplates).toEqual([first.launchTemplate.name]);
    expect(await templatesOf('change')).toEqual([second.launchTemplate.name]);
  });

  it('converges a new max size alone without touching the template or the instances', async () => {
    // GIVEN app servers with max size 4
    const first = await ensureAppServers(clients, specFor('resize'), run());
    // WHEN ensured with max size 6
    const second = await ensureAppServers(clients, specFor('resize', { maxSize: 6 }), run());
    // THEN only the max size changed
    expect(second.group.changes).toEqual(['max size 4 → 6']);
    expect(second.launchTemplate).toMatchObject({ name: first.launchTemplate.name, created: false, changes: [] });
    expect(second.replacedInstanceIds).toEqual([]);
    expect(second.instanceIds).toEqual(first.instanceIds);
    expect((await describeGroup('shop-resize-app'))?.MaxSize).toBe(6);
  });
});

describe('deleteAppServers against moto', () => {
  it('leaves no group, template, load balancer or instance, and succeeds again when all is gone', async () => {
    // GIVEN app servers, after a template change (so two templates have existed)
    await ensureAppServers(clients, specFor('gone'), run());
    const created = await ensureAppServers(clients, specFor('gone', { instanceType: 't3.medium' }), run());
    const names = makeNames(APP, 'gone');
    // WHEN deleted
    const deleted = await deleteAppServers(clients, names, run());
    // THEN it reports what existed, and moto has none of it
    expect(deleted).toMatchObject({ group: true, launchTemplates: [created.launchTemplate.name], loadBalancer: true });
    expect(deleted.instanceIds).toEqual(expect.arrayContaining(created.instanceIds));
    expect(await describeGroup('shop-gone-app')).toBeUndefined();
    expect(await templatesOf('gone')).toEqual([]);
    await expect(clients.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: ['shop-gone-elb'] }))).rejects.toMatchObject({
      name: 'AccessPointNotFoundException',
    });
    const instances = await describeInstances(clients.ec2, deleted.instanceIds);
    expect(instances.map((instance) => instance.State?.Name)).toEqual(deleted.instanceIds.map(() => 'terminated'));
    // AND a second delete succeeds, reporting nothing left to delete
    expect(await deleteAppServers(clients, names, run())).toEqual({ group: false, instanceIds: [], launchTemplates: [], loadBalancer: false, conflicts: [] });
  });
});
