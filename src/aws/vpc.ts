/**
 * The default VPC and its subnets: where argos puts security groups, the
 * database subnet group, the load balancer and the app servers.
 */
import { DescribeSubnetsCommand, DescribeVpcsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ArgosError } from '../errors.js';

/** The default VPC and one subnet per availability zone, sorted by zone. */
export interface DefaultVpc {
  vpcId: string;
  subnets: { subnetId: string; availabilityZone: string }[];
}

/** Finds the region's default VPC and its default subnets (one Describe call each). */
export async function findDefaultVpc(ec2: EC2Client, region: string): Promise<DefaultVpc> {
  const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }));
  const vpcId = vpcs.Vpcs?.[0]?.VpcId;
  if (!vpcId) {
    throw new ArgosError(
      'FAILED',
      `no default VPC in ${region}: create one (aws ec2 create-default-vpc --region ${region}) and run the command again`,
    );
  }
  const response = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));
  const byZone = new Map<string, string>();
  for (const subnet of response.Subnets ?? []) {
    if (!subnet.SubnetId || !subnet.AvailabilityZone) continue;
    // Prefer the default subnet of each zone; keep the first seen otherwise.
    if (subnet.DefaultForAz || !byZone.has(subnet.AvailabilityZone)) byZone.set(subnet.AvailabilityZone, subnet.SubnetId);
  }
  const subnets = [...byZone]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([availabilityZone, subnetId]) => ({ subnetId, availabilityZone }));
  if (subnets.length === 0) throw new ArgosError('FAILED', `the default VPC ${vpcId} in ${region} has no subnets: create a default subnet per zone`);
  return { vpcId, subnets };
}
