/**
 * The load balancer plane's two faces towards moto: what it reads (moto's classic
 * load balancers and the private IPs of their instances, as {@link LoadBalancerSpec}s)
 * and what it answers in moto's place (DescribeInstanceHealth's Query-protocol XML,
 * byte for byte the shape moto 5.2.1 returns, with the plane's verdicts).
 */
import { randomBytes } from 'node:crypto';
import type { EC2Client, Instance } from '@aws-sdk/client-ec2';
import {
  paginateDescribeLoadBalancers, type ElasticLoadBalancingClient, type LoadBalancerDescription,
} from '@aws-sdk/client-elastic-load-balancing';
import { describeInstancesById } from './moto-read.js';
import type { BackendInstance, HealthCheckSpec, InstanceHealthVerdict, LoadBalancerSpec } from './elb.js';

/** SDK clients pointed at moto. */
export interface LoadBalancerClients {
  readonly elb: ElasticLoadBalancingClient;
  readonly ec2: EC2Client;
}

/**
 * What a classic load balancer checks when nobody configured its health check: the
 * API's defaults (Classic Load Balancer guide, "Health check configuration": CLI/API
 * default TCP:80, timeout 5, interval 30, unhealthy threshold 2, healthy threshold 10).
 */
export const DEFAULT_HEALTH_CHECK: HealthCheckSpec = {
  target: 'TCP:80', intervalSeconds: 30, timeoutSeconds: 5, healthyThreshold: 10, unhealthyThreshold: 2,
};

/**
 * Reads moto's classic load balancers into {@link LoadBalancerSpec}s: health check,
 * listeners, registered instances with their private IP and EC2 state. An instance
 * EC2 no longer knows is left out (nothing to probe). `addressOf` may map an instance
 * to another address (default: its PrivateIpAddress).
 */
export async function readLoadBalancerSpecs(
  clients: LoadBalancerClients,
  options: { addressOf?: (instance: Instance) => string | undefined } = {},
): Promise<LoadBalancerSpec[]> {
  const descriptions: LoadBalancerDescription[] = [];
  for await (const page of paginateDescribeLoadBalancers({ client: clients.elb }, {})) descriptions.push(...(page.LoadBalancerDescriptions ?? []));

  const ids = [...new Set(descriptions.flatMap((d) => (d.Instances ?? []).map((i) => i.InstanceId ?? '')).filter(Boolean))];
  const instances = await describeInstancesById(clients.ec2, ids);
  const addressOf = options.addressOf ?? ((i: Instance) => i.PrivateIpAddress);

  return descriptions.map((d): LoadBalancerSpec => {
    const hc = d.HealthCheck;
    const backends: BackendInstance[] = [];
    for (const { InstanceId } of d.Instances ?? []) {
      const instance = InstanceId ? instances.get(InstanceId) : undefined;
      const address = instance ? addressOf(instance) : undefined;
      if (!InstanceId || !instance || !address) continue;
      // A registration is a set on AWS (registering a registered instance changes nothing); moto 5.2.1
      // lists a group's instance twice once it is registered again through the API.
      if (backends.some((backend) => backend.instanceId === InstanceId)) continue;
      backends.push({ instanceId: InstanceId, address, ...(instance.State?.Name ? { ec2State: instance.State.Name } : {}) });
    }
    return {
      name: d.LoadBalancerName ?? '',
      ...(d.DNSName ? { dnsName: d.DNSName } : {}),
      healthCheck: hc?.Target
        ? {
            target: hc.Target,
            intervalSeconds: hc.Interval ?? DEFAULT_HEALTH_CHECK.intervalSeconds,
            timeoutSeconds: hc.Timeout ?? DEFAULT_HEALTH_CHECK.timeoutSeconds,
            healthyThreshold: hc.HealthyThreshold ?? DEFAULT_HEALTH_CHECK.healthyThreshold,
            unhealthyThreshold: hc.UnhealthyThreshold ?? DEFAULT_HEALTH_CHECK.unhealthyThreshold,
          }
        : DEFAULT_HEALTH_CHECK,
      listeners: (d.ListenerDescriptions ?? []).flatMap(({ Listener: l }) =>
        l?.LoadBalancerPort !== undefined && l.InstancePort !== undefined
          ? [{ loadBalancerPort: l.LoadBalancerPort, instancePort: l.InstancePort, protocol: l.Protocol ?? 'TCP' }]
          : []),
      instances: backends,
    };
  });
}

const XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/';

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/**
 * DescribeInstanceHealth's response body (Query protocol, XML) for the plane's
 * verdicts, in the element order and shape moto returns. With `requestedIds` (the
 * request's `Instances.member.N.InstanceId`), one entry per requested id in that
 * order; an id the load balancer does not have reads `Unknown` with `N/A`, as moto
 * answers. Without, every verdict.
 */
export function renderDescribeInstanceHealth(
  verdicts: readonly InstanceHealthVerdict[],
  requestedIds: readonly string[] = [],
  requestId: string = randomBytes(26).toString('base64url').slice(0, 52),
): string {
  const byId = new Map(verdicts.map((v) => [v.instanceId, v]));
  const entries = requestedIds.length === 0
    ? verdicts
    : requestedIds.map((id): InstanceHealthVerdict => byId.get(id) ?? { instanceId: id, state: 'Unknown', reasonCode: 'N/A', description: 'N/A' });
  const members = entries.map((v) =>
    `<member><InstanceId>${escapeXml(v.instanceId)}</InstanceId><State>${v.state}</State>` +
    `<ReasonCode>${v.reasonCode}</ReasonCode><Description>${escapeXml(v.description)}</Description></member>`).join('');
  return `<DescribeInstanceHealthResponse xmlns="${XMLNS}"><DescribeInstanceHealthResult>` +
    (members ? `<InstanceStates>${members}</InstanceStates>` : '<InstanceStates/>') +
    `</DescribeInstanceHealthResult><ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata>` +
    '</DescribeInstanceHealthResponse>';
}
