/**
 * A rolling deploy of the app servers: batch after batch, each taken out of
 * the load balancer's rotation, updated by one `ansible-playbook`, and put
 * back once the load balancer says it serves again; the others keep serving
 * the previous release meanwhile. The first batch also carries the roles that
 * are not behind the load balancer (broker, workers) and the database role
 * (migrations, once, from the batch's first app server, after its new code is
 * there: database.yml runs on the first app server of its run's --limit).
 */
import { DescribeLoadBalancerAttributesCommand, type ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { IN_SERVICE_TIMEOUT_MS } from '../autoscaling/in-service.js';
import { findLoadBalancer } from '../autoscaling/load-balancer.js';
import { ArgosError } from '../errors.js';
import type { BatchSize } from '../batch-size.js';
import type { InventoryHost } from '../hosts.js';

/**
 * Splits the app servers into batches of `size`, in the order given.
 */
export function planBatches<T>(hosts: readonly T[], size: BatchSize): T[][] {
  const per = 'count' in size ? size.count : Math.ceil((hosts.length * size.percent) / 100);
  const step = Math.max(1, Math.min(per, hosts.length));
  const batches: T[][] = [];
  for (let start = 0; start < hosts.length; start += step) batches.push(hosts.slice(start, start + step));
  return batches;
}

/** What the rolling deploy does to the world, given by deploy (and faked in tests). */
export interface RollingActions {
  /** Suspends the group's health replacement; returns what to resume. */
  suspend(): Promise<string[]>;
  resume(processes: string[]): Promise<void>;
  /** Deregisters and waits until drained. */
  takeOut(instanceIds: readonly string[]): Promise<void>;
  /** Registers and waits until InService. */
  putBack(instanceIds: readonly string[]): Promise<void>;
  /** Registers without waiting (after a failure: the health check decides whether they serve). */
  register(instanceIds: readonly string[]): Promise<void>;
  /** One ansible-playbook: the playbooks, limited to `limit` hosts. */
  runPlaybooks(playbooks: readonly string[], limit: readonly string[]): Promise<void>;
  /**
   * The instance ids of the app servers a deploy would not change (playbooks/check.yml: the
   * converged check alone); none when the check cannot tell.
   */
  findUpToDate?(hosts: readonly InventoryHost[]): Promise<ReadonlySet<string>>;
  /** A line for the user: "batch 2 of 3: …". */
  note(line: string): void;
}

/** What one rolling deploy runs. */
export interface RollingPlan {
  /** The app servers, in inventory order. */
  appServers: readonly InventoryHost[];
  /** Hosts of the roles not behind the load balancer (broker, workers): updated with the first batch. */
  otherHosts: readonly InventoryHost[];
  /** The playbooks of the first batch (every selected role: site order). */
  firstPlaybooks: readonly string[];
  /** The playbooks of the later batches (the app servers' own). */
  laterPlaybooks: readonly string[];
  batch: BatchSize;
  /**
   * App servers the load balancer does not have InService now: they go first, so a deploy never
   * takes a serving instance out while one that serves nothing waits its turn (after a failed
   * deploy, the fix reaches the broken instance first).
   */
  notServing?: ReadonlySet<string>;
  /** What to do after a failed batch (the rollback and retry commands of the environment). */
  advice: string;
}

/**
 * Runs the plan. Whatever happens — a failed batch, Ctrl-C — the instances
 * this run took out are registered again (the load balancer's health check
 * still keeps a broken one out of rotation) and the suspended processes are
 * resumed; the error of the failed batch is rethrown, naming the batch and
 * what is left on the previous release.
 */
export async function runRollingDeploy(plan: RollingPlan, actions: RollingActions): Promise<void> {
  const notServing = plan.notServing ?? new Set<string>();
  // A server already as this deploy wants it stays in service: taking it out would cost its
  // draining and health checks for a play that ends after one check. One out of service is
  // updated anyway (the health check, not the check of its files, says whether it serves).
  const upToDate = (await actions.findUpToDate?.(plan.appServers)) ?? new Set<string>();
  const left = plan.appServers.filter((host) => upToDate.has(host.instanceId) && !notServing.has(host.instanceId));
  const toUpdate = plan.appServers.filter((host) => !left.includes(host));
  if (left.length > 0) actions.note(`${left.map((host) => host.instanceId).join(', ')}: already as this deploy wants ${left.length === 1 ? 'it' : 'them'}, left in service`);
  const [firstAppServer] = plan.appServers;
  if (toUpdate.length === 0) {
    // The other roles and the database play (on the first app server, whose app play ends after its check) still run.
    actions.note(`running ${plan.firstPlaybooks.join(' ')}`);
    await actions.runPlaybooks(plan.firstPlaybooks, [...plan.otherHosts, ...(firstAppServer ? [firstAppServer] : [])].map((host) => host.address));
    return;
  }
  // Stable: otherwise inventory order.
  const ordered = [...toUpdate].sort((a, b) => Number(notServing.has(b.instanceId)) - Number(notServing.has(a.instanceId)));
  const batches = planBatches(ordered, plan.batch);
  const suspended = await actions.suspend();
  const out = new Set<string>();
  try {
    for (const [index, batch] of batches.entries()) {
      const ids = batch.map((host) => host.instanceId);
      const label = `batch ${index + 1} of ${batches.length} (${ids.join(', ')})`;
      actions.note(`${label}: out of the load balancer`);
      for (const id of ids) out.add(id);
      await actions.takeOut(ids);
      const first = index === 0;
      try {
        actions.note(`${label}: running ${(first ? plan.firstPlaybooks : plan.laterPlaybooks).join(' ')}`);
        await actions.runPlaybooks(first ? plan.firstPlaybooks : plan.laterPlaybooks, [...(first ? plan.otherHosts : []), ...batch].map((host) => host.address));
      } catch (error) {
        const untouched = batches.slice(index + 1).flat().map((host) => host.instanceId);
        const kept = untouched.length > 0 ? `; ${untouched.join(', ')} were not touched and still serve the previous release` : '';
        throw new ArgosError('FAILED', `the rolling deploy stopped at ${label}${kept}: ${(error as Error).message}. ${plan.advice}`, { cause: error });
      }
      actions.note(`${label}: back in the load balancer, waiting until it serves`);
      await actions.putBack(ids);
      for (const id of ids) out.delete(id);
    }
  } finally {
    // Registered again even when the batch failed: the health check keeps a broken instance out of rotation.
    try {
      if (out.size > 0) await actions.register([...out]);
    } finally {
      await actions.resume(suspended);
    }
  }
}

/** The load balancer's settings a rolling deploy paces itself by. */
export interface RotationSettings {
  healthCheckTarget: string;
  /**
   * How long a registered instance may take to be InService: the 15 minutes every InService wait
   * allows (docs/safety: a slow first check is not a failure), longer when twice HealthyThreshold
   * checks plus a minute take longer.
   */
  putBackTimeoutMs: number;
  drainingTimeoutSeconds: number;
}

/** Reads {@link RotationSettings} from the load balancer as it is (one Describe call each for it and its attributes). */
export async function readRotationSettings(elb: ElasticLoadBalancingClient, name: string): Promise<RotationSettings | undefined> {
  const found = await findLoadBalancer(elb, name);
  if (!found) return undefined;
  const check = found.HealthCheck;
  const attributes = (await elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerName: name }))).LoadBalancerAttributes;
  const draining = attributes?.ConnectionDraining?.Enabled ? (attributes.ConnectionDraining.Timeout ?? 300) : 0;
  const perCheck = (check?.Interval ?? 30) + (check?.Timeout ?? 5);
  return {
    healthCheckTarget: check?.Target ?? 'unknown',
    putBackTimeoutMs: Math.max(IN_SERVICE_TIMEOUT_MS, (2 * (check?.HealthyThreshold ?? 10) * perCheck + 60) * 1000),
    drainingTimeoutSeconds: draining,
  };
}
