/**
 * The environment's classic load balancer, `<app>-<env>-elb`: HTTP 80 to the
 * app port on the instances, across the default VPC's subnets.
 */
import {
  ApplySecurityGroupsToLoadBalancerCommand,
  AttachLoadBalancerToSubnetsCommand,
  ConfigureHealthCheckCommand,
  CreateLoadBalancerCommand,
  CreateLoadBalancerListenersCommand,
  DeleteLoadBalancerCommand,
  DeleteLoadBalancerListenersCommand,
  DescribeLoadBalancerAttributesCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  ModifyLoadBalancerAttributesCommand,
  type ElasticLoadBalancingClient,
  type HealthCheck,
  type LoadBalancerDescription,
} from '@aws-sdk/client-elastic-load-balancing';
import { ELB_ERRORS } from '../aws/error-codes.js';
import { ArgosError, usageError } from '../errors.js';
import { makeTags, type EnvNames } from '../names.js';
import { classify, ownedOrThrow, type Conflict, type Lookup } from '../ownership.js';
import { catchCodes, retryOnCodes, type Progress } from '../wait.js';
import type { AppServersSpec, EnsureResult } from './types.js';

/** The parts of the spec the load balancer is made of. */
export type LoadBalancerSpec = Pick<AppServersSpec, 'names' | 'subnets' | 'elbSecurityGroupId' | 'appPort' | 'healthCheckPath'>;

/** What {@link ensureLoadBalancer} did, and where the app is reached. */
export interface LoadBalancerResult extends EnsureResult {
  dnsName: string;
}

const MAX_NAME_LENGTH = 32;
/** Connection draining: how long in-flight requests may finish on an instance leaving the group. */
const DRAINING_TIMEOUT_SECONDS = 60;

/** The explicit health check: HTTP on the app port at the health-check path, every 10 s, healthy after 2. */
export function buildHealthCheck(spec: Pick<LoadBalancerSpec, 'appPort' | 'healthCheckPath'>): HealthCheck {
  return {
    Target: `HTTP:${spec.appPort}${spec.healthCheckPath}`,
    Interval: 10,
    Timeout: 5,
    HealthyThreshold: 2,
    UnhealthyThreshold: 3,
  };
}

/** The load balancer called `name`, or `undefined` when there is none. */
export async function findLoadBalancer(
  elb: ElasticLoadBalancingClient,
  name: string,
): Promise<LoadBalancerDescription | undefined> {
  const response = await catchCodes(
    () => elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [name] })),
    ELB_ERRORS.loadBalancerNotFound,
    undefined,
  );
  return response?.LoadBalancerDescriptions?.[0];
}

/**
 * The environment's load balancer `<app>-<env>-elb`, checked by its tags (a
 * second call: DescribeLoadBalancers does not return them): one of that name
 * made for another app or environment is a conflict, never ours.
 */
export async function lookupLoadBalancer(elb: ElasticLoadBalancingClient, names: EnvNames): Promise<Lookup<LoadBalancerDescription>> {
  const name = names.loadBalancer;
  const found = await findLoadBalancer(elb, name);
  // Deleted between the two calls: no tags, and nothing left to conflict with.
  const tags = found
    ? await catchCodes(() => elb.send(new DescribeTagsCommand({ LoadBalancerNames: [name] })), ELB_ERRORS.loadBalancerNotFound, undefined)
    : undefined;
  if (found && !tags) return { kind: 'missing' };
  const tagList = tags?.TagDescriptions?.find((description) => description.LoadBalancerName === name)?.Tags;
  return classify(found, { what: 'load balancer', name, tags: tagList }, { app: names.app, env: names.env, group: 'elb' });
}

/**
 * Makes sure the load balancer exists as `spec` says: created with its tags,
 * health check, cross-zone load balancing and connection draining; on an
 * existing one, the listener, health check, attributes, security group and
 * subnets are brought back to `spec` and each change is reported.
 */
export async function ensureLoadBalancer(
  elb: ElasticLoadBalancingClient,
  spec: LoadBalancerSpec,
  options: Progress,
): Promise<LoadBalancerResult> {
  const name = spec.names.loadBalancer;
  if (name.length > MAX_NAME_LENGTH) {
    throw usageError(`the load balancer name '${name}' has ${name.length} characters and AWS allows ${MAX_NAME_LENGTH}: use a shorter environment name`);
  }
  // Another app's load balancer of the same name is refused, never converged.
  const existing = ownedOrThrow(await lookupLoadBalancer(elb, spec.names), spec.names);
  if (!existing) {
    options.onProgress?.(`creating the load balancer ${name}`);
    const response = await elb.send(
      new CreateLoadBalancerCommand({
        LoadBalancerName: name,
        Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: spec.appPort }],
        Subnets: spec.subnets.map((subnet) => subnet.subnetId),
        SecurityGroups: [spec.elbSecurityGroupId],
        Scheme: 'internet-facing',
        Tags: makeTags({ app: spec.names.app, env: spec.names.env, group: 'elb' }, name),
      }),
    );
    // Neither can be given on create. A re-run after a failure here takes the
    // "existing" path below, which sets both.
    await configure(elb, name, spec, options, { healthCheck: true, attributes: true });
    return { name, dnsName: response.DNSName ?? requireDnsName(existing, name), created: true, changes: [] };
  }
  const changes = await converge(elb, existing, spec, options);
  return { name, dnsName: requireDnsName(existing, name), created: false, changes };
}

/** What {@link deleteLoadBalancer} did. */
export interface LoadBalancerDeleteResult {
  existed: boolean;
  /** A load balancer of that name that is not this environment's: left alone. */
  conflict?: Conflict;
}

/**
 * Deletes the environment's load balancer; succeeds when it is already gone,
 * and leaves one that is not the environment's (by its tags) alone.
 */
export async function deleteLoadBalancer(elb: ElasticLoadBalancingClient, names: EnvNames): Promise<LoadBalancerDeleteResult> {
  const name = names.loadBalancer;
  const lookup = await lookupLoadBalancer(elb, names);
  if (lookup.kind === 'conflict') return { existed: false, conflict: lookup.conflict };
  if (lookup.kind === 'missing') return { existed: false };
  // DeleteLoadBalancer succeeds for a name that does not exist: no race to handle.
  await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerName: name }));
  return { existed: true };
}

function requireDnsName(found: LoadBalancerDescription | undefined, name: string): string {
  if (found?.DNSName) return found.DNSName;
  throw new ArgosError('FAILED', `the load balancer ${name} has no DNS name yet: run the command again in a minute`);
}

/** Health check and attributes; retried briefly while a just-created load balancer is not visible yet. */
async function configure(
  elb: ElasticLoadBalancingClient,
  name: string,
  spec: LoadBalancerSpec,
  options: Progress,
  what: { healthCheck: boolean; attributes: boolean },
): Promise<void> {
  const retry = <T>(call: () => Promise<T>, doing: string): Promise<T> =>
    retryOnCodes(call, ELB_ERRORS.loadBalancerNotFound, {
      what: `the load balancer ${name} to accept its ${doing}`,
      timeoutMs: 2 * 60_000,
      intervalMs: 2_000,
      signal: options.signal,
      clock: options.clock,
    });
  if (what.healthCheck) {
    await retry(
      () => elb.send(new ConfigureHealthCheckCommand({ LoadBalancerName: name, HealthCheck: buildHealthCheck(spec) })),
      'health check',
    );
  }
  if (what.attributes) {
    await retry(
      () =>
        elb.send(
          new ModifyLoadBalancerAttributesCommand({
            LoadBalancerName: name,
            LoadBalancerAttributes: {
              CrossZoneLoadBalancing: { Enabled: true },
              ConnectionDraining: { Enabled: true, Timeout: DRAINING_TIMEOUT_SECONDS },
            },
          }),
        ),
      'attributes',
    );
  }
}

/** How an existing load balancer differs from its spec, and how each difference reads. */
interface LoadBalancerDiff {
  /** The port-80 listener must be (re)created; `exists`: one is there now and goes first. */
  listener: { exists: boolean } | undefined;
  healthCheck: boolean;
  attributes: boolean;
  securityGroups: boolean;
  missingSubnets: string[];
  changes: string[];
}

/** Compares an existing load balancer with `spec` (one Describe call for its attributes). */
async function diffLoadBalancer(elb: ElasticLoadBalancingClient, existing: LoadBalancerDescription, spec: LoadBalancerSpec): Promise<LoadBalancerDiff> {
  const name = spec.names.loadBalancer;
  const changes: string[] = [];
  const listener = existing.ListenerDescriptions?.map((description) => description.Listener).find((l) => l?.LoadBalancerPort === 80);
  const listenerDiffers = !listener || listener.InstancePort !== spec.appPort || listener.Protocol !== 'HTTP' || listener.InstanceProtocol !== 'HTTP';
  if (listenerDiffers) changes.push(`listener port 80 → instance port ${listener?.InstancePort ?? 'none'} → ${spec.appPort}`);

  const wanted = buildHealthCheck(spec);
  const current = existing.HealthCheck;
  const healthCheck =
    !current ||
    current.Target !== wanted.Target ||
    current.Interval !== wanted.Interval ||
    current.Timeout !== wanted.Timeout ||
    current.HealthyThreshold !== wanted.HealthyThreshold ||
    current.UnhealthyThreshold !== wanted.UnhealthyThreshold;
  if (healthCheck) changes.push(`health check ${current?.Target ?? 'none'} → ${wanted.Target}`);

  const attributeValues = (await elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerName: name }))).LoadBalancerAttributes;
  const attributes =
    attributeValues?.CrossZoneLoadBalancing?.Enabled !== true ||
    attributeValues.ConnectionDraining?.Enabled !== true ||
    attributeValues.ConnectionDraining.Timeout !== DRAINING_TIMEOUT_SECONDS;
  if (attributes) changes.push('cross-zone load balancing and connection draining turned on');

  const groups = existing.SecurityGroups ?? [];
  const securityGroups = groups.length !== 1 || groups[0] !== spec.elbSecurityGroupId;
  if (securityGroups) changes.push(`security groups ${groups.join(',') || 'none'} → ${spec.elbSecurityGroupId}`);

  const attached = new Set(existing.Subnets ?? []);
  const missingSubnets = spec.subnets.map((subnet) => subnet.subnetId).filter((id) => !attached.has(id));
  if (missingSubnets.length > 0) changes.push(`subnets added: ${missingSubnets.join(', ')}`);
  return { listener: listenerDiffers ? { exists: listener !== undefined } : undefined, healthCheck, attributes, securityGroups, missingSubnets, changes };
}

/** What {@link ensureLoadBalancer} would create or change (Describe calls only). */
export async function planLoadBalancer(elb: ElasticLoadBalancingClient, spec: LoadBalancerSpec): Promise<string[]> {
  const existing = ownedOrThrow(await lookupLoadBalancer(elb, spec.names), spec.names);
  if (!existing) return [`create it (HTTP:80 → instance port ${spec.appPort}, health check ${buildHealthCheck(spec).Target})`];
  // The security group may not exist yet in a dry run; it is compared once it does.
  const diff = await diffLoadBalancer(elb, existing, spec.elbSecurityGroupId ? spec : { ...spec, elbSecurityGroupId: existing.SecurityGroups?.[0] ?? '' });
  return diff.changes;
}

/** Brings an existing load balancer back to `spec`; returns what it changed. */
async function converge(
  elb: ElasticLoadBalancingClient,
  existing: LoadBalancerDescription,
  spec: LoadBalancerSpec,
  options: Progress,
): Promise<string[]> {
  const name = spec.names.loadBalancer;
  const diff = await diffLoadBalancer(elb, existing, spec);
  if (diff.listener) {
    if (diff.listener.exists) await elb.send(new DeleteLoadBalancerListenersCommand({ LoadBalancerName: name, LoadBalancerPorts: [80] }));
    await elb.send(
      new CreateLoadBalancerListenersCommand({
        LoadBalancerName: name,
        Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: spec.appPort }],
      }),
    );
  }
  await configure(elb, name, spec, options, { healthCheck: diff.healthCheck, attributes: diff.attributes });
  if (diff.securityGroups) {
    await elb.send(new ApplySecurityGroupsToLoadBalancerCommand({ LoadBalancerName: name, SecurityGroups: [spec.elbSecurityGroupId] }));
  }
  if (diff.missingSubnets.length > 0) {
    await elb.send(new AttachLoadBalancerToSubnetsCommand({ LoadBalancerName: name, Subnets: diff.missingSubnets }));
  }
  return diff.changes;
}
