/**
 * The default VPC and its subnets: where argos puts security groups, the
 * database subnet group, the load balancer and the app servers.
 */
import { DescribeInstanceTypeOfferingsCommand, DescribeSubnetsCommand, DescribeVpcsCommand, type EC2Client } from '@aws-sdk/client-ec2';
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

/**
 * The subnets of `vpc` whose zone offers `instanceType`: a type is not offered
 * in every zone of a region (t3 is not in one us-east-1 zone), and a launch
 * there fails ("Unsupported", or an autoscaling group that keeps failing in
 * that zone). One paginated DescribeInstanceTypeOfferings call per type.
 * No zone offering it is a CONFIG error naming the type, region and zones;
 * `setting` says where the type comes from (`app_instance_type`, …).
 */
export async function findOfferedSubnets(ec2: EC2Client, vpc: DefaultVpc, instanceType: string, region: string, setting: string): Promise<DefaultVpc['subnets']> {
  const offered = new Set<string>();
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstanceTypeOfferingsCommand({ LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: [instanceType] }], NextToken }),
    );
    for (const offering of page.InstanceTypeOfferings ?? []) if (offering.Location) offered.add(offering.Location);
    NextToken = page.NextToken;
  } while (NextToken);
  const subnets = vpc.subnets.filter((subnet) => offered.has(subnet.availabilityZone));
  if (subnets.length === 0) {
    throw new ArgosError(
      'CONFIG',
      `instance type ${instanceType} (${setting}) is offered in none of the default VPC's zones in ${region} (${vpc.subnets.map((subnet) => subnet.availabilityZone).join(', ')}): ` +
        'choose a type offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone)',
    );
  }
  return subnets;
}
