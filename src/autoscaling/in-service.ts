/**
 * The wait until the group's instances are in service: healthy in the group
 * and InService behind the load balancer, which is when the app is really reachable.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DescribeInstanceHealthCommand, type ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { ArgosError } from '../errors.js';
import { formatDuration } from '../reporter.js';
import { systemClock, waitFor, type BoundedProgress } from '../wait.js';
import { findAutoScalingGroup } from './group.js';

/** Instances InService behind the load balancer: the bound the safety notes promise (at least 15 minutes). */
export const IN_SERVICE_TIMEOUT_MS = 15 * 60_000;

/** What {@link waitForInService} waits for. */
export interface InServiceTarget {
  groupName: string;
  loadBalancerName: string;
  /** How many instances must be in service. */
  count: number;
  /** Instances that do not count (those being replaced). */
  exclude?: readonly string[] | undefined;
  /** The load balancer's health-check target (`HTTP:8000/health`), named in the timeout message. */
  healthCheckTarget?: string | undefined;
  /** How a person reaches an instance to see why it fails the check (named in the timeout message). */
  inspect?: InspectAccess | undefined;
}

/** The SSH access the hosts file gives, for the timeout's advice. */
export interface InspectAccess {
  /** The app's name: its uWSGI unit is `<app>-uwsgi` (playbooks/roles/app). */
  app: string;
  env: string;
  user: string;
  keyFile: string;
}

/** The app's systemd unit (playbooks/roles/app: uWSGI behind nginx), `<app_name>-uwsgi`. */
function appUnit(app: string | undefined): string {
  return `${app ?? '<app_name>'}-uwsgi`;
}

/**
 * What to look at when instances fail the health check: the app's journal on
 * each failing instance over SSH, and `status` for each instance's release.
 */
export function describeHealthAdvice(failing: readonly string[], check: string | undefined, inspect: InspectAccess | undefined): string {
  const on = failing.length > 0 ? ` on ${failing.join(', ')}` : '';
  const ssh = inspect
    ? `ssh -i ${inspect.keyFile} ${inspect.user}@<address> sudo journalctl -u ${appUnit(inspect.app)} -n 100 (each instance's address is in hosts/hosts_${inspect.env}, or see argos ${inspect.env} status, which also says which release each instance was launched from)`
    : `sudo journalctl -u ${appUnit(undefined)} -n 100 on the instance (argos <env> status names each instance, its health and its release)`;
  return `The load balancer's health check${check ? ` ${check}` : ''} fails${on}: the app must answer it with HTTP 200. Look at the app's log: ${ssh}`;
}

/**
 * Waits until at least `count` instances of the group are InService and
 * healthy in the group and InService behind the load balancer; returns their
 * ids, sorted. Bounded (15 minutes unless `timeoutMs` says otherwise) and
 * abortable; the timeout error names each instance and its health.
 */
export async function waitForInService(
  autoScaling: AutoScalingClient,
  elb: ElasticLoadBalancingClient,
  target: InServiceTarget,
  options: BoundedProgress,
): Promise<string[]> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const timeoutMs = options.timeoutMs ?? IN_SERVICE_TIMEOUT_MS;
  const exclude = new Set(target.exclude ?? []);
  let lastSeen = 'no instance launched yet';
  // Every instance seen failing the check while in service in its group (the group may have replaced it since).
  const failing = new Set<string>();
  const check = async (): Promise<{ done: true; value: string[] } | { done: false; state: string }> => {
    const group = await findAutoScalingGroup(autoScaling, target.groupName);
    if (!group) {
      throw new ArgosError('FAILED', `the autoscaling group ${target.groupName} disappeared while waiting for its instances: run the command again`);
    }
    const instances = (group.Instances ?? []).filter((instance) => instance.InstanceId && !exclude.has(instance.InstanceId));
    // One call for every instance the load balancer knows; instances not registered yet are simply absent.
    const health = new Map(
      (await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: target.loadBalancerName }))).InstanceStates?.map(
        (state) => [state.InstanceId ?? '', state],
      ) ?? [],
    );
    const ready: string[] = [];
    const described: string[] = [];
    for (const instance of instances) {
      const id = instance.InstanceId ?? '';
      const atElb = health.get(id);
      const inGroup = instance.LifecycleState === 'InService' && instance.HealthStatus === 'Healthy';
      if (inGroup && atElb?.State === 'InService') ready.push(id);
      else if (atElb?.State === 'OutOfService' && instance.LifecycleState === 'InService') failing.add(id);
      const elbState = atElb
        ? `${atElb.State ?? 'Unknown'}${atElb.Description && atElb.Description !== 'N/A' ? ` (${atElb.Description})` : ''}`
        : 'not registered';
      described.push(`${id} group ${instance.LifecycleState ?? '?'}/${instance.HealthStatus ?? '?'}, load balancer ${elbState}`);
    }
    if (ready.length >= target.count) return { done: true, value: ready.sort() };
    lastSeen = described.length > 0 ? described.join('; ') : 'no instance launched yet';
    return { done: false, state: `${ready.length} of ${target.count} in service: ${lastSeen}` };
  };
  try {
    return await waitFor(check, {
      what: `${target.count} instance(s) of ${target.groupName} to be in service behind ${target.loadBalancerName}`,
      timeoutMs,
      intervalMs: 10_000,
      maxIntervalMs: 30_000,
      signal: options.signal,
      onPoll: options.onProgress,
      clock: options.clock,
    });
  } catch (error) {
    if (!(error instanceof ArgosError) || error.code !== 'TIMEOUT') throw error;
    throw new ArgosError(
      'TIMEOUT',
      `timed out after ${formatDuration(clock.now() - started)}: fewer than ${target.count} instance(s) of ${target.groupName} ` +
        `are in service behind ${target.loadBalancerName}. Last seen: ${lastSeen}. ` +
        `${describeHealthAdvice([...failing].sort(), target.healthCheckTarget, target.inspect)}. Then run the command again: it picks up where it stopped`,
      { cause: error },
    );
  }
}


/**
 * Waits until at least `count` instances of a group without a load balancer
 * (the workers') are InService and Healthy in the group: with EC2 health that
 * is "running and passing EC2's status checks". Returns their ids, sorted.
 * Bounded (15 minutes unless `timeoutMs` says otherwise) and abortable.
 */
export async function waitForGroupInService(
  autoScaling: AutoScalingClient,
  target: { groupName: string; count: number },
  options: BoundedProgress,
): Promise<string[]> {
  return waitFor(
    async () => {
      const group = await findAutoScalingGroup(autoScaling, target.groupName);
      if (!group) throw new ArgosError('FAILED', `the autoscaling group ${target.groupName} disappeared while waiting for its instances: run the command again`);
      const instances = group.Instances ?? [];
      const ready = instances.filter((instance) => instance.LifecycleState === 'InService' && instance.HealthStatus === 'Healthy').map((instance) => instance.InstanceId ?? '');
      if (ready.length >= target.count) return { done: true, value: ready.sort() };
      const seen = instances.map((instance) => `${instance.InstanceId ?? '?'} ${instance.LifecycleState ?? '?'}/${instance.HealthStatus ?? '?'}`).join('; ');
      return { done: false, state: `${ready.length} of ${target.count} in service: ${seen || 'no instance launched yet'}` };
    },
    {
      what: `${target.count} instance(s) of ${target.groupName} to be in service`,
      timeoutMs: options.timeoutMs ?? IN_SERVICE_TIMEOUT_MS,
      intervalMs: 10_000,
      maxIntervalMs: 30_000,
      signal: options.signal,
      onPoll: options.onProgress,
      clock: options.clock,
    },
  );
}
