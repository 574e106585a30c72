/**
 * The environment's classic load balancer, `<app>-<env>-elb`: HTTP 80 (and,
 * with a certificate, HTTPS 443, TLS ending at the load balancer) to the app
 * port on the instances, across the default VPC's subnets.
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
  SetLoadBalancerListenerSSLCertificateCommand,
  type ElasticLoadBalancingClient,
  type HealthCheck,
  type Listener,
  type LoadBalancerDescription,
} from '@aws-sdk/client-elastic-load-balancing';
import { ELB_ERRORS } from '../aws/error-codes.js';
import { ArgosError, usageError } from '../errors.js';
import { makeTags, type EnvNames } from '../names.js';
import { classify, ownedOrThrow, type Conflict, type Lookup } from '../ownership.js';
import { catchCodes, retryOnCodes, type Progress } from '../wait.js';
import type { AppServersSpec, EnsureResult } from './types.js';

/** The parts of the spec the load balancer is made of. */
export type LoadBalancerSpec = Pick<AppServersSpec, 'names' | 'subnets' | 'elbSecurityGroupId' | 'appPort' | 'healthCheckPath' | 'certificateArn'>;

/** What {@link ensureLoadBalancer} did, and where the app is reached. */
export interface LoadBalancerResult extends EnsureResult {
  dnsName: string;
}

/** Load balancer ports: HTTP always, HTTPS with a certificate. */
export const LISTENER_PORTS = { http: 80, https: 443 } as const;

/** `https://<DNS name>` when the load balancer has an HTTPS listener, else `http://<DNS name>`. */
export function urlOf(dnsName: string, https: boolean): string {
  return `${https ? 'https' : 'http'}://${dnsName}`;
}

/** Whether a described load balancer listens for HTTPS on 443. */
export function hasHttpsListener(found: LoadBalancerDescription): boolean {
  return (found.ListenerDescriptions ?? []).some((d) => d.Listener?.LoadBalancerPort === LISTENER_PORTS.https && d.Listener.Protocol === 'HTTPS');
}

/** The HTTP:80 listener to the app port. */
function httpListener(spec: Pick<LoadBalancerSpec, 'appPort'>): Listener {
  return { Protocol: 'HTTP', LoadBalancerPort: LISTENER_PORTS.http, InstanceProtocol: 'HTTP', InstancePort: spec.appPort };
}

/**
 * The HTTPS:443 listener: TLS ends at the load balancer, which forwards HTTP
 * to the app port with `X-Forwarded-Proto: https` (classic load balancer
 * listeners: https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-listener-config.html).
 */
function httpsListener(spec: Pick<LoadBalancerSpec, 'appPort'>, certificateArn: string): Listener {
  return { Protocol: 'HTTPS', LoadBalancerPort: LISTENER_PORTS.https, InstanceProtocol: 'HTTP', InstancePort: spec.appPort, SSLCertificateId: certificateArn };
}

/** The listeners `spec` wants. */
function wantedListeners(spec: Pick<LoadBalancerSpec, 'appPort' | 'certificateArn'>): Listener[] {
  return spec.certificateArn ? [httpListener(spec), httpsListener(spec, spec.certificateArn)] : [httpListener(spec)];
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
        Listeners: wantedListeners(spec),
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

/**
 * What one listener port needs: `create`; `recreate` (delete first: port or
 * protocol differ); `certificate` (only the certificate differs, swapped in
 * place, no gap in service); `delete`.
 */
type ListenerChange = { port: number; action: 'create' | 'recreate' | 'certificate' | 'delete'; listener?: Listener };

/** How an existing load balancer differs from its spec, and how each difference reads. */
interface LoadBalancerDiff {
  listeners: ListenerChange[];
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
  const listeners = diffListeners(existing, spec);
  changes.push(...listeners.map(describeListenerChange));

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
  return { listeners, healthCheck, attributes, securityGroups, missingSubnets, changes };
}

/**
 * Each argos listener port (80, 443) whose listener is missing, different or
 * unwanted. Other ports are the user's: left alone. The HTTPS listener's
 * back-end protocol is not compared: HTTP and HTTPS to the instances are both
 * valid for it, and the emulator the tests run on (moto 5.2.1) reports the
 * front-end protocol there, so comparing it would recreate the listener,
 * dropping HTTPS for a moment, on every run.
 */
function diffListeners(existing: LoadBalancerDescription, spec: LoadBalancerSpec): ListenerChange[] {
  const current = new Map((existing.ListenerDescriptions ?? []).flatMap((d) => (d.Listener?.LoadBalancerPort ? [[d.Listener.LoadBalancerPort, d.Listener] as const] : [])));
  const wanted = new Map(wantedListeners(spec).map((listener) => [listener.LoadBalancerPort ?? 0, listener]));
  const changes: ListenerChange[] = [];
  for (const port of [LISTENER_PORTS.http, LISTENER_PORTS.https]) {
    const have = current.get(port);
    const want = wanted.get(port);
    if (!want) {
      if (have) changes.push({ port, action: 'delete' });
    } else if (!have) {
      changes.push({ port, action: 'create', listener: want });
    } else if (have.Protocol !== want.Protocol || have.InstancePort !== want.InstancePort || (port === LISTENER_PORTS.http && have.InstanceProtocol !== 'HTTP')) {
      changes.push({ port, action: 'recreate', listener: want });
    } else if ((have.SSLCertificateId ?? undefined) !== want.SSLCertificateId) {
      changes.push({ port, action: 'certificate', listener: want });
    }
  }
  return changes;
}

function describeListener(listener: Listener): string {
  return `${listener.Protocol}:${listener.LoadBalancerPort} → instance port ${listener.InstancePort}${listener.SSLCertificateId ? ` (certificate ${listener.SSLCertificateId})` : ''}`;
}

function describeListenerChange(change: ListenerChange): string {
  switch (change.action) {
    case 'create':
      return `listener ${describeListener(need(change.listener))} added`;
    case 'recreate':
      return `listener port ${change.port} replaced by ${describeListener(need(change.listener))}`;
    case 'certificate':
      return `listener port ${change.port} certificate → ${need(change.listener).SSLCertificateId}`;
    case 'delete':
      return `listener port ${change.port} removed (no certificate_arn)`;
  }
}

function need(listener: Listener | undefined): Listener {
  if (!listener) throw new Error('a listener change without its listener');
  return listener;
}

/** What {@link ensureLoadBalancer} would create or change (Describe calls only). */
export async function planLoadBalancer(elb: ElasticLoadBalancingClient, spec: LoadBalancerSpec): Promise<string[]> {
  const existing = ownedOrThrow(await lookupLoadBalancer(elb, spec.names), spec.names);
  if (!existing) return [`create it (${wantedListeners(spec).map(describeListener).join(', ')}, health check ${buildHealthCheck(spec).Target})`];
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
  await applyListenerChanges(elb, name, diff.listeners);
  await configure(elb, name, spec, options, { healthCheck: diff.healthCheck, attributes: diff.attributes });
  if (diff.securityGroups) {
    await elb.send(new ApplySecurityGroupsToLoadBalancerCommand({ LoadBalancerName: name, SecurityGroups: [spec.elbSecurityGroupId] }));
  }
  if (diff.missingSubnets.length > 0) {
    await elb.send(new AttachLoadBalancerToSubnetsCommand({ LoadBalancerName: name, Subnets: diff.missingSubnets }));
  }
  return diff.changes;
}

/**
 * Applies listener changes. A certificate alone is swapped in place
 * (SetLoadBalancerListenerSSLCertificate), so HTTPS never stops; a port whose
 * protocol or instance port changed is deleted and created again.
 */
async function applyListenerChanges(elb: ElasticLoadBalancingClient, name: string, changes: readonly ListenerChange[]): Promise<void> {
  const deleted = changes.filter((c) => c.action === 'delete' || c.action === 'recreate').map((c) => c.port);
  if (deleted.length > 0) await elb.send(new DeleteLoadBalancerListenersCommand({ LoadBalancerName: name, LoadBalancerPorts: deleted }));
  const created = changes.filter((c) => c.action === 'create' || c.action === 'recreate').map((c) => need(c.listener));
  if (created.length > 0) await elb.send(new CreateLoadBalancerListenersCommand({ LoadBalancerName: name, Listeners: created }));
  for (const change of changes.filter((c) => c.action === 'certificate')) {
    await elb.send(
      new SetLoadBalancerListenerSSLCertificateCommand({ LoadBalancerName: name, LoadBalancerPort: change.port, SSLCertificateId: need(change.listener).SSLCertificateId }),
    );
  }
}
