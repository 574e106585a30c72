/**
 * Autoscaling that replaces unhealthy instances (issue 14, point 6), done through
 * moto's own API so that moto's view stays the truth: moto never probes and never
 * replaces, so the harness decides, every tick, which InService instances AWS would
 * find unhealthy, marks them `Unhealthy` (SetInstanceHealth) and terminates them
 * with `ShouldDecrementDesiredCapacity=false`, on which moto (5.2.1: detach, then
 * set_desired_capacity) launches a replacement and registers it with the group's
 * load balancers.
 *
 * AWS behaviour relied on (Amazon EC2 Auto Scaling User Guide, "Health checks for
 * instances in an Auto Scaling group", healthcheck.html, and "Set the health check
 * grace period", health-check-grace-period.html):
 * - "When Amazon EC2 Auto Scaling determines that an InService instance is unhealthy, it
 *   replaces it with a new instance to maintain the desired capacity": only InService
 *   instances are judged (never Pending, Pending:Wait, Terminating, Standby, ...).
 * - Every group uses the built-in Amazon EC2 status checks: an instance that is not
 *   running (stopping, stopped, shutting down, terminated, or gone) is unhealthy, whatever
 *   the group's health check type; "instances that terminate unexpectedly" are replaced too.
 * - A group with `HealthCheckType: ELB` also takes the load balancer's verdict: an instance
 *   a load balancer of the group reports OutOfService is unhealthy ("it considers the
 *   instance unhealthy if it fails either the EC2 status checks or the load balancer
 *   health checks").
 * - The grace period "specifies the minimum amount of time (in seconds) to keep a new
 *   instance in service before terminating it if it's found to be unhealthy"; "Elastic
 *   Load Balancing health checks run in parallel, starting when the instance is registered".
 *   Here it is counted from the instance's launch time (moto has no InService timestamp);
 *   the EC2 state check ignores it (a terminated instance cannot come back).
 */
import {
  SetInstanceHealthCommand, paginateDescribeAutoScalingGroups, TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient, type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { LoadBalancerPlane } from './elb.js';
import { describeInstancesById } from './moto-read.js';

/** A group as the decision needs it. */
export interface GroupHealthFacts {
  readonly name: string;
  /** `EC2` or `ELB` (AWS also knows `VPC_LATTICE` and `EBS`; treated as EC2 here). */
  readonly healthCheckType: string;
  readonly gracePeriodSeconds: number;
  readonly loadBalancerNames: readonly string[];
  readonly instances: readonly { readonly instanceId: string; readonly lifecycleState: string }[];
  /** SuspendProcesses names: with `HealthCheck` or `ReplaceUnhealthy` suspended, nothing is replaced (a rolling deploy does that). */
  readonly suspendedProcesses?: readonly string[];
}

/** What EC2 says of an instance. */
export interface InstanceFacts {
  /** EC2 state name: pending, running, stopping, stopped, shutting-down, terminated. */
  readonly state: string;
  readonly launchTime: Date;
}

/** An instance to mark Unhealthy and replace, and why. */
export interface Replacement {
  readonly groupName: string;
  readonly instanceId: string;
  readonly cause: 'ec2-status' | 'elb-health';
  /** A sentence like the activity cause AWS records. */
  readonly description: string;
}

/** The load balancer's verdict on an instance (`undefined` when it does not know the instance). */
export type VerdictOf = (loadBalancerName: string, instanceId: string) => 'InService' | 'OutOfService' | 'Unknown' | undefined;

const NOT_RUNNING = new Set(['stopping', 'stopped', 'shutting-down', 'terminated']);

/**
 * Decides which InService instances of which groups are unhealthy now (pure; the
 * clock is an argument). One decision per instance: an EC2 status failure wins over
 * a load balancer verdict, and the first OutOfService load balancer is named.
 */
export function decideReplacements(
  groups: readonly GroupHealthFacts[],
  instances: ReadonlyMap<string, InstanceFacts>,
  verdictOf: VerdictOf,
  now: Date,
): Replacement[] {
  const decided = new Map<string, Replacement>();
  for (const group of groups) {
    // Suspended HealthCheck: the group marks nothing unhealthy; suspended ReplaceUnhealthy: it replaces nothing
    // (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html).
    if (group.suspendedProcesses?.some((p) => p === 'HealthCheck' || p === 'ReplaceUnhealthy')) continue;
    for (const { instanceId, lifecycleState } of group.instances) {
      if (lifecycleState !== 'InService' || decided.has(instanceId)) continue;
      const ec2 = instances.get(instanceId);
      if (!ec2 || NOT_RUNNING.has(ec2.state)) {
        decided.set(instanceId, {
          groupName: group.name, instanceId, cause: 'ec2-status',
          description: `an EC2 health check indicated that instance ${instanceId} is ${ec2?.state ?? 'gone'}`,
        });
        continue;
      }
      if (group.healthCheckType !== 'ELB' || ec2.state !== 'running') continue;
      if (now.getTime() - ec2.launchTime.getTime() < group.gracePeriodSeconds * 1000) continue;
      const failing = group.loadBalancerNames.find((lb) => verdictOf(lb, instanceId) === 'OutOfService');
      if (failing !== undefined) {
        decided.set(instanceId, {
          groupName: group.name, instanceId, cause: 'elb-health',
          description: `an ELB health check indicated that instance ${instanceId} is OutOfService in load balancer ${failing}`,
        });
      }
    }
  }
  return [...decided.values()];
}

/** Clients pointed at moto. */
export interface GroupHealthClients {
  readonly autoscaling: AutoScalingClient;
  readonly ec2: EC2Client;
}

/**
 * One tick of the harness: reads moto's groups and their instances, decides with
 * the plane's verdicts, and for each unhealthy instance calls SetInstanceHealth
 * (`Unhealthy`) and TerminateInstanceInAutoScalingGroup without decrementing the
 * desired capacity, so that moto launches the replacement. Returns what it replaced.
 */
export async function checkGroupHealth(
  clients: GroupHealthClients,
  plane: Pick<LoadBalancerPlane, 'health'>,
  now: Date,
): Promise<Replacement[]> {
  const groups: AutoScalingGroup[] = [];
  for await (const page of paginateDescribeAutoScalingGroups({ client: clients.autoscaling }, {})) groups.push(...(page.AutoScalingGroups ?? []));
  const facts: GroupHealthFacts[] = groups.map((g) => ({
    name: g.AutoScalingGroupName ?? '',
    healthCheckType: g.HealthCheckType ?? 'EC2',
    gracePeriodSeconds: g.HealthCheckGracePeriod ?? 0,
    loadBalancerNames: g.LoadBalancerNames ?? [],
    instances: (g.Instances ?? []).map((i) => ({ instanceId: i.InstanceId ?? '', lifecycleState: i.LifecycleState ?? '' })),
    suspendedProcesses: (g.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? ''),
  }));
  const ids = [...new Set(facts.flatMap((g) => g.instances.map((i) => i.instanceId)))];
  const instances = new Map<string, InstanceFacts>();
  for (const [id, i] of await describeInstancesById(clients.ec2, ids)) {
    instances.set(id, { state: i.State?.Name ?? 'pending', launchTime: i.LaunchTime ?? now });
  }
  const verdicts = new Map<string, ReadonlyMap<string, string>>();
  const verdictOf: VerdictOf = (lb, id) => {
    if (!verdicts.has(lb)) verdicts.set(lb, new Map(plane.health(lb).map((v) => [v.instanceId, v.state])));
    return verdicts.get(lb)?.get(id) as ReturnType<VerdictOf>;
  };
  const replacements = decideReplacements(facts, instances, verdictOf, now);
  for (const r of replacements) {
    // The grace period has been applied above; moto does not implement it either way.
    await clients.autoscaling.send(new SetInstanceHealthCommand({ InstanceId: r.instanceId, HealthStatus: 'Unhealthy', ShouldRespectGracePeriod: false }));
    await clients.autoscaling.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: r.instanceId, ShouldDecrementDesiredCapacity: false }));
  }
  return replacements;
}
