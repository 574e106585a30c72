/**
 * Reads of moto the load balancer plane and the group health check share.
 */
import { paginateDescribeInstances, type EC2Client, type Instance } from '@aws-sdk/client-ec2';

/**
 * The EC2 instances with these ids that EC2 still knows, by id (all pages). A filter,
 * not `InstanceIds`: an id moto has forgotten must not fail the whole read.
 */
export async function describeInstancesById(ec2: EC2Client, ids: readonly string[]): Promise<Map<string, Instance>> {
  const instances = new Map<string, Instance>();
  if (ids.length === 0) return instances;
  const pages = paginateDescribeInstances({ client: ec2 }, { Filters: [{ Name: 'instance-id', Values: [...ids] }] });
  for await (const page of pages) {
    for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId) instances.set(i.InstanceId, i);
  }
  return instances;
}
