/**
 * Everything an argos test could have created in the emulated account, as
 * sorted lists of ids: compare two snapshots to prove a run changed nothing,
 * or filter one for what is left after a teardown.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, DescribeInstancesCommand, DescribeLaunchTemplatesCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, DescribeDBSubnetGroupsCommand } from '@aws-sdk/client-rds';
import type { AwsClients } from '../../src/aws/clients.js';

export interface AccountSnapshot {
  instances: string[];
  securityGroups: string[];
  images: string[];
  launchTemplates: string[];
  loadBalancers: string[];
  autoScalingGroups: string[];
  databases: string[];
  databaseSnapshots: string[];
  databaseSubnetGroups: string[];
}

/** Reads the account: live instances, non-default groups, own images, and the rest by name. */
export async function snapshotAccount(clients: Pick<AwsClients, 'ec2' | 'rds' | 'autoScaling' | 'elb'>): Promise<AccountSnapshot> {
  const [instances, groups, images, templates, elbs, asgs, dbs, snapshots, subnetGroups] = await Promise.all([
    clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] })),
    clients.ec2.send(new DescribeSecurityGroupsCommand({})),
    clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'] })),
    clients.ec2.send(new DescribeLaunchTemplatesCommand({})),
    clients.elb.send(new DescribeLoadBalancersCommand({})),
    clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({})),
    clients.rds.send(new DescribeDBInstancesCommand({})),
    clients.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' })),
    clients.rds.send(new DescribeDBSubnetGroupsCommand({})),
  ]);
  const sorted = (values: (string | undefined)[]) => values.filter((v): v is string => v !== undefined).sort();
  return {
    instances: sorted((instances.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId))),
    securityGroups: sorted((groups.SecurityGroups ?? []).filter((g) => g.GroupName !== 'default').map((g) => g.GroupName)),
    images: sorted((images.Images ?? []).map((i) => i.Name)),
    launchTemplates: sorted((templates.LaunchTemplates ?? []).map((t) => t.LaunchTemplateName)),
    loadBalancers: sorted((elbs.LoadBalancerDescriptions ?? []).map((l) => l.LoadBalancerName)),
    autoScalingGroups: sorted((asgs.AutoScalingGroups ?? []).map((g) => g.AutoScalingGroupName)),
    databases: sorted((dbs.DBInstances ?? []).map((d) => d.DBInstanceIdentifier)),
    databaseSnapshots: sorted((snapshots.DBSnapshots ?? []).map((s) => s.DBSnapshotIdentifier)),
    databaseSubnetGroups: sorted((subnetGroups.DBSubnetGroups ?? []).map((g) => g.DBSubnetGroupName).filter((n) => n !== 'default')),
  };
}
