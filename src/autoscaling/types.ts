/**
 * What the app-server functions share: one plain spec of the environment's
 * app tier, the clients it is built with, and what an `ensure…` call reports it did.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import type { EnvNames } from '../names.js';
import type { InspectAccess } from './in-service.js';

/**
 * The two autoscaling tiers of an environment: the app servers behind the
 * load balancer, and the Celery workers (no load balancer). Each has its own
 * group, launch templates and scaling policy, told apart by name and `Group` tag.
 */
export type Tier = 'app' | 'worker';

/** `<app>-<env>-app` or `<app>-<env>-worker`: the tier's group name (and the start of its templates' names). */
export function tierGroupName(names: EnvNames, tier: Tier): string {
  return tier === 'worker' ? names.worker : names.appServers;
}

/** One subnet of the default VPC, as {@link findDefaultVpc} returns it. */
export interface SubnetRef {
  subnetId: string;
  availabilityZone: string;
}

/** Everything the app tier of one environment is built from. */
export interface AppServersSpec {
  names: EnvNames;
  /** The baked image (`<app>-image`). */
  imageId: string;
  instanceType: string;
  /** The EC2 key pair the instances accept (config `key_name`). */
  keyName: string;
  /** The security group of the app servers (from security.ts). */
  appSecurityGroupId: string;
  /** The security group of the load balancer (from security.ts). */
  elbSecurityGroupId: string;
  /** The default VPC's subnets, one per zone: the load balancer spans them all. */
  subnets: readonly SubnetRef[];
  /**
   * The subnets whose zone offers `instanceType` (`findOfferedSubnets`): the
   * group launches only there. The load balancer keeps every zone: with
   * cross-zone load balancing on, a node in a zone without instances forwards
   * to the others, and a zone must be enabled on it for its instances to get traffic.
   */
  instanceSubnets: readonly SubnetRef[];
  /** The port the app listens on; the load balancer forwards port 80 to it. */
  appPort: number;
  /** The path the load balancer's health check requests, e.g. `/` or `/health`. */
  healthCheckPath: string;
  /** ACM or IAM certificate of the HTTPS:443 listener (config `certificate_arn`); none: HTTP:80 only. */
  certificateArn?: string | undefined;
  /** GiB of the encrypted root volume. */
  rootVolumeSize: number;
  minSize: number;
  maxSize: number;
  /**
   * Pins the group's desired capacity. Left out (the usual case), a new group
   * starts at `minSize` and an existing group keeps the capacity its scaling
   * policy chose, only brought back inside `[minSize, maxSize]`.
   */
  desiredCapacity?: number | undefined;
  /** Average CPU percentage the target-tracking policy holds the group at (config `scaling_target_cpu`). */
  scalingTargetCpu: number;
  /** SSH access named when instances fail the health check (in-service.ts). */
  inspect?: InspectAccess | undefined;
}

/** The clients the app servers need. */
export interface AppServerClients {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  elb: ElasticLoadBalancingClient;
}

/** What an `ensure…` call did to one resource. */
export interface EnsureResult {
  name: string;
  /** True when this call created the resource. */
  created: boolean;
  /** What this call changed on an existing resource, e.g. `max size 4 → 6`; empty when nothing. */
  changes: string[];
}
