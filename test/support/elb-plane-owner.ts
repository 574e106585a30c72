/**
 * A harness stand-in for the local cloud load balancer test: attaches to a running
 * cloud, starts its load balancer plane with one load balancer, prints the plane's
 * PID and waits to be killed (the test SIGKILLs it to show the plane follows).
 *
 *   tsx test/support/elb-plane-owner.ts CLOUD_NAME
 */
import { attachCloud } from '../../localcloud/cloud.js';
import { startLoadBalancerPlane } from '../../localcloud/elb.js';

const cloud = attachCloud({ name: process.argv[2] ?? 'lc' });
startLoadBalancerPlane(cloud).then(async (plane) => {
  await plane.apply([{
    name: 'orphan', listeners: [{ loadBalancerPort: 80, instancePort: 80, protocol: 'HTTP' }], instances: [],
    healthCheck: { target: 'TCP:22', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 },
  }]);
  process.stdout.write(`${String(plane.pid)}\n`);
  setInterval(() => undefined, 60_000);
}, (error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
