/**
 * The app servers of one environment, as commands see them: a barrel over
 * `autoscaling/`, one file per part, so each is found by its name:
 * - `app-servers.ts`: ensureAppServers / deleteAppServers, the whole tier in order;
 * - `launch-template.ts`, `load-balancer.ts`, `group.ts`, `scaling-policy.ts`: one resource each;
 * - `in-service.ts`: the wait until instances serve behind the load balancer;
 * - `replace-instances.ts`: surge replacement of instances on an earlier template;
 * - `workers.ts`: ensureWorkers / deleteWorkers, the Celery workers' group (no load balancer);
 * - `types.ts`: the spec, clients and results they share.
 */
export * from './autoscaling/app-servers.js';
export * from './autoscaling/group.js';
export * from './autoscaling/in-service.js';
export * from './autoscaling/launch-template.js';
export * from './autoscaling/load-balancer.js';
export * from './autoscaling/replace-instances.js';
export * from './autoscaling/scaling-policy.js';
export * from './autoscaling/types.js';
export * from './autoscaling/workers.js';
