/**
 * The harness plane that gives moto's classic load balancers and autoscaling
 * groups AWS's behaviour (issue 14, points 5 and 6): each tick it reads the
 * load balancers from moto into the data plane (elb.ts), then lets the groups
 * replace instances the load balancer finds unhealthy (asg-health.ts). The
 * proxy answers DescribeInstanceHealth with the plane's verdicts, and keeps
 * API deregistrations that moto forgets.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { checkGroupHealth } from './asg-health.js';
import { readLoadBalancerSpecs, renderDescribeInstanceHealth, startLoadBalancerPlane, type LoadBalancerPlane, type LoadBalancerSpec } from './elb.js';
import type { Plane, PlaneContext } from './harness.js';
import { startNameProxy } from './lb-names.js';

/** The balancing plane, with what tests and the sandbox need to reach the load balancers. */
export interface BalancingPlane extends Plane {
  /** `http://127.0.0.1:<port>` of a load balancer's listener (default port 80), once the plane has it. */
  urlOf(loadBalancerName: string, loadBalancerPort?: number): string | undefined;
  /**
   * `http://127.0.0.1:<port>`: an HTTP proxy that serves the load balancers' DNS names
   * (`curl --proxy <nameProxyUrl> http://<DNSName>/`), see lb-names.ts.
   */
  readonly nameProxyUrl: string;
  /** The data plane (verdicts, ports). */
  readonly loadBalancers: LoadBalancerPlane;
}

/** How often moto is read and the groups' health judged. */
const TICK_MS = 500;
/** How long a terminating instance drains before moto terminates it. */
const DRAIN_MS = 1_000;

/** The instance ids of a Query request's `Instances.member.N.InstanceId`. */
function instanceIdsOf(params: URLSearchParams): string[] {
  const ids: string[] = [];
  for (let i = 1; params.has(`Instances.member.${String(i)}.InstanceId`); i++) ids.push(params.get(`Instances.member.${String(i)}.InstanceId`) as string);
  return ids;
}

/** Starts the load balancer data plane and the group-health loop as a harness plane. */
export async function startBalancing(context: PlaneContext): Promise<BalancingPlane> {
  const { cloud, proxy, clientConfig, log } = context;
  const elb = new ElasticLoadBalancingClient(clientConfig);
  const ec2 = new EC2Client(clientConfig);
  const autoscaling = new AutoScalingClient(clientConfig);
  const plane = await startLoadBalancerPlane(cloud);
  /**
   * Instances deregistered through the API, per load balancer. AWS stops routing
   * to them and no longer lists them; moto 5.2.1 keeps listing an instance its
   * group registered, so the harness remembers the deregistration until a
   * RegisterInstancesWithLoadBalancer (or the instance leaves the group's view).
   */
  const deregistered = new Map<string, Set<string>>();
  let known = new Set<string>();
  /** DNS name (lower case) → load balancer name, as of the last tick. */
  let names = new Map<string, string>();
  const urlOf = (name: string, port = 80): string | undefined => {
    const local = plane.localPorts().get(name)?.get(port);
    return local === undefined ? undefined : `http://127.0.0.1:${String(local)}`;
  };
  // The plane runs already: a proxy that cannot start must not leave it running.
  const nameProxy = await startNameProxy((dnsName, port) => {
    const name = names.get(dnsName);
    return name === undefined ? undefined : plane.localPorts().get(name)?.get(port);
  }).catch(async (error: unknown) => {
    await plane.stop();
    throw error;
  });

  proxy.intercept('elasticloadbalancing', 'DeregisterInstancesFromLoadBalancer', {
    after: async (request, response) => {
      if (response.status !== 200) return undefined;
      const name = request.params.get('LoadBalancerName') ?? '';
      const set = deregistered.get(name) ?? new Set<string>();
      for (const id of instanceIdsOf(request.params)) set.add(id);
      deregistered.set(name, set);
      // Answered only once the plane routes no new connection there, as AWS's deregistration.
      await settle();
      return undefined;
    },
  });
  proxy.intercept('elasticloadbalancing', 'RegisterInstancesWithLoadBalancer', {
    after: async (request, response) => {
      if (response.status !== 200) return undefined;
      const name = request.params.get('LoadBalancerName') ?? '';
      for (const id of instanceIdsOf(request.params)) deregistered.get(name)?.delete(id);
      await settle();
      return undefined;
    },
  });
  /**
   * A group's instance being terminated leaves its load balancers first: AWS deregisters it
   * (Terminating), lets connection draining finish, then terminates it
   * (https://docs.aws.amazon.com/autoscaling/ec2/userguide/attach-load-balancer-asg.html,
   * "connection draining ... before the instance is deregistered and terminated"). moto terminates
   * at once, so the harness takes the instance out of rotation before moto sees the call.
   */
  const leaving = new Set<string>();
  proxy.intercept('autoscaling', 'TerminateInstanceInAutoScalingGroup', {
    before: async (request) => {
      const id = request.params.get('InstanceId');
      if (!id) return undefined;
      leaving.add(id);
      await settle();
      // In-flight requests finish (the sample apps answer in milliseconds; AWS allows the draining timeout).
      await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
      return undefined;
    },
  });
  proxy.intercept('elasticloadbalancing', 'DescribeInstanceHealth', {
    before: async (request) => {
      const name = request.params.get('LoadBalancerName') ?? '';
      // What moto says now (a load balancer or registration made a moment ago) is in the answer.
      await settle();
      // A load balancer the plane does not know: moto answers, errors included.
      if (!known.has(name)) return undefined;
      const requested = instanceIdsOf(request.params);
      return { status: 200, contentType: 'text/xml', body: renderDescribeInstanceHealth(plane.health(name), requested.length > 0 ? requested : undefined) };
    },
  });

  let stopped = false;
  let running: Promise<void> | undefined;
  /** One pass; concurrent callers share the pass in flight. */
  const tick = (): Promise<void> => {
    running ??= (async () => {
      try {
        const specs: LoadBalancerSpec[] = (await readLoadBalancerSpecs({ elb, ec2 })).map((spec) => ({
          ...spec,
          instances: spec.instances.filter((instance) => !deregistered.get(spec.name)?.has(instance.instanceId) && !leaving.has(instance.instanceId)),
        }));
        await plane.apply(specs);
        known = new Set(specs.map((spec) => spec.name));
        names = new Map(specs.flatMap((spec) => (spec.dnsName ? [[spec.dnsName.toLowerCase(), spec.name] as const] : [])));
        for (const replaced of await checkGroupHealth({ autoscaling, ec2 }, plane, new Date())) {
          log(`${replaced.groupName}: replacing ${replaced.instanceId}: ${replaced.description}`);
        }
      } catch (error) {
        if (!stopped) log(`load balancers: ${(error as Error).message}`);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  /** A pass that starts after now: one in flight may have read moto before the change. */
  const settle = async (): Promise<void> => {
    await running;
    await tick();
  };
  const loop = (async () => {
    while (!stopped) {
      await tick();
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
  })();

  return {
    loadBalancers: plane,
    urlOf,
    nameProxyUrl: nameProxy.url,
    describe: () => [
      ...[...plane.localPorts()].flatMap(([name, ports]) => [...ports].map(([lbPort, local]) => `load balancer ${name}: port ${String(lbPort)} at http://127.0.0.1:${String(local)}`)),
      `load balancers by DNS name: curl --proxy ${nameProxy.url} http://<DNSName>/`,
    ],
    stop: async () => {
      stopped = true;
      await loop;
      await nameProxy.stop();
      await plane.stop();
      for (const client of [elb, ec2, autoscaling]) client.destroy();
    },
  };
}
