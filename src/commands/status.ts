/**
 * `argos <env> status`: a read-only view of the environment (each resource
 * with its id, state and health) and its drift: a stale hosts file, instances
 * outside the load balancer, and resources tagged for the environment that
 * commission would not have made (orphans, e.g. of a killed run).
 */
import { readFile } from 'node:fs/promises';
import { DescribeInstanceHealthCommand } from '@aws-sdk/client-elastic-load-balancing';
import { findLaunchTemplates, hasHttpsListener, lookupAutoScalingGroup, lookupLoadBalancer, urlOf } from '../autoscaling.js';
import { findLeftoverSuspension, OUT_OF_ROTATION_TAG } from '../autoscaling/rotation.js';
import { ELB_ERRORS } from '../aws/error-codes.js';
import { LIVE_STATES } from '../aws/instance-states.js';
import { findInstances } from '../aws/instances.js';
import { findDefaultVpc } from '../aws/vpc.js';
import type { Context } from '../context.js';
import { describeSnapshotSize, findFinalSnapshots, lookupDatabase } from '../database.js';
import { findBakeLeftovers, findImage } from '../image.js';
import { toTagFilters } from '../names.js';
import { findLiveImageId, findReleaseImages } from '../release.js';
import type { StatusOptions } from '../options.js';
import { describeConflict, ownedOnly, type Lookup } from '../ownership.js';
import { findSecurityGroups, temporarySshSources } from '../security.js';
import { catchCodes } from '../wait.js';

/** One row of the status table. */
export interface StatusRow {
  kind: string;
  name: string;
  id: string;
  state: string;
  detail: string;
}

/** The environment as `status` sees it. */
export interface EnvironmentStatus {
  env: string;
  commissioned: boolean;
  url: string | undefined;
  resources: StatusRow[];
  /** The environment's release images, newest first; `live`: the app servers' launch template launches from it. */
  releases: { name: string; imageId: string; gitRef: string; created: string; state: string; live: boolean }[];
  /** What is kept and costs storage though nothing runs: the final snapshots (also rows of `resources`). */
  kept: { finalSnapshots: number; totalGiB: number };
  drift: string[];
}

/** Reads the environment (Describe calls only, a fixed number whatever the account holds). */
export async function gatherStatus(ctx: Context): Promise<EnvironmentStatus> {
  const { ec2, rds, elb, autoScaling } = ctx.clients;
  const { names } = ctx;
  const vpc = await findDefaultVpc(ec2, ctx.region);
  const [image, databaseLookup, loadBalancerLookup, groupLookup, templates, groups, tagged, leftovers, finalSnapshots, releaseImages, releaseLeftovers, liveImageId, workerLookup, workerTemplates] = await Promise.all([
    findImage(ec2, names),
    lookupDatabase(rds, names.database, names),
    lookupLoadBalancer(elb, names),
    lookupAutoScalingGroup(autoScaling, names),
    findLaunchTemplates(ec2, names),
    findSecurityGroups(ec2, names, vpc.vpcId),
    findInstances(ec2, toTagFilters({ app: names.app, env: names.env }), LIVE_STATES),
    findBakeLeftovers(ec2, names),
    findFinalSnapshots(rds, names.app, names.env),
    findReleaseImages(ec2, names),
    findBakeLeftovers(ec2, names, 'release'),
    findLiveImageId(ctx.clients, names).catch(() => undefined),
    lookupAutoScalingGroup(autoScaling, names, 'worker'),
    findLaunchTemplates(ec2, names, 'worker'),
  ]);
  // Found by name but tagged for another app or environment: shown as a conflict, never as this environment's.
  const database = ownedOnly(databaseLookup);
  const loadBalancer = ownedOnly(loadBalancerLookup);
  const group = ownedOnly(groupLookup);
  const workerGroup = ownedOnly(workerLookup);
  const health = loadBalancer ? await describeHealth(ctx, names.loadBalancer) : new Map<string, string>();
  const rows: StatusRow[] = [];
  const drift: string[] = [];
  const row = (kind: string, name: string, id: string, state: string, detail = '') => rows.push({ kind, name, id, state, detail });

  row('image', names.image, image?.imageId ?? '-', image?.state ?? 'missing', image ? 'shared by every environment' : 'commission bakes it');
  const conflictRow = (kind: string, name: string, lookup: Lookup<unknown>): boolean => {
    if (lookup.kind !== 'conflict') return false;
    const tags = Object.entries(lookup.conflict.tags).map(([key, value]) => `${key}=${value}`).join(', ');
    row(kind, name, '-', 'conflict', `not this environment's: ${tags || 'no argos tags'}`);
    drift.push(`${describeConflict(lookup.conflict, names)}: argos leaves it alone; use another environment name, or tag it if it is yours`);
    return true;
  };
  if (!conflictRow('database', names.database, databaseLookup)) {
    row('database', names.database, database?.identifier ?? '-', database?.status ?? 'missing', database?.address ? `${database.address}:${database.port}` : '');
  }
  if (!conflictRow('load balancer', names.loadBalancer, loadBalancerLookup)) {
    row('load balancer', names.loadBalancer, loadBalancer?.LoadBalancerName ?? '-', loadBalancer ? 'active' : 'missing', loadBalancer?.DNSName ?? '');
  }
  if (!conflictRow('autoscaling group', names.appServers, groupLookup)) {
    row(
      'autoscaling group',
      names.appServers,
      group?.AutoScalingGroupName ?? '-',
      group ? (group.Status ?? 'active') : 'missing',
      group ? `min ${group.MinSize} max ${group.MaxSize} desired ${group.DesiredCapacity}; template ${group.LaunchTemplate?.LaunchTemplateName ?? '?'}` : '',
    );
  }
  // Workers are optional: their group is a row only when it exists (or another's holds the name).
  if (!conflictRow('autoscaling group', names.worker, workerLookup) && workerGroup) {
    row(
      'autoscaling group',
      names.worker,
      workerGroup.AutoScalingGroupName ?? '-',
      workerGroup.Status ?? 'active',
      `min ${workerGroup.MinSize} max ${workerGroup.MaxSize} desired ${workerGroup.DesiredCapacity}; template ${workerGroup.LaunchTemplate?.LaunchTemplateName ?? '?'}; health ${workerGroup.HealthCheckType ?? '?'}`,
    );
  }
  const releases = releaseImages.map((release) => ({ name: release.name, imageId: release.imageId, gitRef: release.gitRef, created: release.created, state: release.state, live: release.imageId === liveImageId }));
  for (const release of releases) {
    row('release image', release.name, release.imageId, release.live ? `${release.state}, live` : release.state, `git ref ${release.gitRef}${release.created ? `, created ${release.created}` : ''}`);
  }
  if (group && liveImageId !== undefined && !releases.some((release) => release.live)) {
    drift.push(`the app servers launch from ${liveImageId === image?.imageId ? 'the base image' : liveImageId}, not a release image: instances launched later have no app until argos ${ctx.env} deploy makes one`);
  }
  const imageOf = new Map(tagged.map((instance) => [instance.instanceId, instance.imageId]));
  const releaseOf = (instanceId: string): string => {
    const imageId = imageOf.get(instanceId);
    if (imageId === undefined) return 'release unknown';
    if (imageId === image?.imageId) return 'base image (no release: the app comes from a deploy)';
    return `release ${releases.find((release) => release.imageId === imageId)?.name ?? imageId}`;
  };
  const groupInstanceIds = new Set((group?.Instances ?? []).map((instance) => instance.InstanceId ?? ''));
  const outOfRotation = new Set(tagged.filter((instance) => instance.tags[OUT_OF_ROTATION_TAG] !== undefined).map((instance) => instance.instanceId));
  for (const instance of group?.Instances ?? []) {
    const id = instance.InstanceId ?? '';
    const lbState = health.get(id) ?? 'not registered';
    row('app instance', names.appServers, id, `${instance.LifecycleState ?? '?'}/${instance.HealthStatus ?? '?'}`, `load balancer: ${lbState}; launched from ${releaseOf(id)}`);
    if (loadBalancer && lbState !== 'InService') drift.push(`app instance ${id} is ${lbState} behind the load balancer`);
    if (outOfRotation.has(id)) {
      drift.push(`app instance ${id} was taken out of the load balancer by a rolling deploy that did not finish: argos ${ctx.env} deploy or commission registers it again`);
    }
  }
  const leftover = findLeftoverSuspension(group);
  if (leftover.length > 0) {
    drift.push(`${names.appServers} has ${leftover.join(', ')} suspended by an argos run that did not finish (it replaces no failed instance): argos ${ctx.env} deploy or commission resumes it`);
  }
  for (const instance of workerGroup?.Instances ?? []) {
    const id = instance.InstanceId ?? '';
    groupInstanceIds.add(id);
    row('worker instance', names.worker, id, `${instance.LifecycleState ?? '?'}/${instance.HealthStatus ?? '?'}`, `launched from ${releaseOf(id)}`);
  }
  const brokers = tagged.filter((instance) => instance.tags['Group'] === 'broker');
  for (const broker of brokers) row('broker', names.broker, broker.instanceId, broker.state, broker.privateDnsName ?? '');
  for (const snapshot of finalSnapshots) row('final snapshot', names.database, snapshot.identifier, snapshot.status, describeSnapshotSize(snapshot));
  for (const sg of groups.values()) row('security group', sg.GroupName ?? '', sg.GroupId ?? '', 'exists', `${(sg.IpPermissions ?? []).length} ingress rule${(sg.IpPermissions ?? []).length === 1 ? '' : 's'}`);

  // Orphans: tagged for this environment, but not what commission makes.
  for (const instance of tagged) {
    const known = groupInstanceIds.has(instance.instanceId) || instance.tags['Group'] === 'broker' || instance.tags['Group'] === 'release';
    if (!known) drift.push(`orphan instance ${instance.instanceId} (Group=${instance.tags['Group'] ?? '?'}, ${instance.state}): not in the autoscaling group; terminate it or run commission`);
  }
  for (const template of workerTemplates) {
    if (template.name !== workerGroup?.LaunchTemplate?.LaunchTemplateName) drift.push(`unused launch template ${template.name} (${template.id}): commission or decommission removes it`);
  }
  for (const template of templates) {
    if (template.name !== group?.LaunchTemplate?.LaunchTemplateName) drift.push(`unused launch template ${template.name} (${template.id}): commission or decommission removes it`);
  }
  for (const sg of groups.values()) {
    for (const cidr of temporarySshSources(sg)) drift.push(`temporary SSH from ${cidr} on ${sg.GroupName} (${sg.GroupId}), left by a killed run: argos ${ctx.env} deploy removes it`);
  }
  for (const id of [...leftovers.instanceIds, ...leftovers.securityGroupIds]) drift.push(`leftover of an image bake: ${id}: run argos ${ctx.env} clean or commission`);
  for (const id of [...releaseLeftovers.instanceIds, ...releaseLeftovers.securityGroupIds]) {
    drift.push(`temporary instance or group of a release build: ${id} (a build under way, or left by a killed run: the next deploy removes it)`);
  }
  drift.push(...(await compareHostsFile(ctx, [...groupInstanceIds, ...brokers.map((b) => b.instanceId)])));

  const commissioned = [database, loadBalancer, group, workerGroup].some((resource) => resource !== undefined) || groups.size > 0 || brokers.length > 0;
  const kept = { finalSnapshots: finalSnapshots.length, totalGiB: finalSnapshots.reduce((sum, snapshot) => sum + snapshot.sizeGiB, 0) };
  return { env: ctx.env, commissioned, url: loadBalancer?.DNSName ? urlOf(loadBalancer.DNSName, hasHttpsListener(loadBalancer)) : undefined, resources: rows, releases, kept, drift };
}

/** Instance id → state as the load balancer sees it ("InService", "OutOfService"). */
async function describeHealth(ctx: Context, name: string): Promise<Map<string, string>> {
  // Deleted between the lookup and this call: nothing is registered.
  const response = await catchCodes(() => ctx.clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: name })), ELB_ERRORS.loadBalancerNotFound, undefined);
  return new Map((response?.InstanceStates ?? []).map((state) => [state.InstanceId ?? '', state.State ?? 'Unknown']));
}

/** Drift between hosts/hosts_<env> and the instances running now. */
async function compareHostsFile(ctx: Context, running: string[]): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(ctx.paths.hostsFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return running.length > 0 ? [`hosts/hosts_${ctx.env} is missing: run argos ${ctx.env} deploy to write it`] : [];
    throw error;
  }
  const listed = [...text.matchAll(/instance_id=(i-[0-9a-f]+)/g)].map((match) => match[1] ?? '');
  const stale = listed.filter((id) => !running.includes(id));
  const missing = running.filter((id) => !listed.includes(id));
  if (stale.length === 0 && missing.length === 0) return [];
  return [
    `hosts/hosts_${ctx.env} is out of date${stale.length ? `; lists gone instances ${stale.join(', ')}` : ''}${missing.length ? `; misses ${missing.join(', ')}` : ''}: run argos ${ctx.env} deploy`,
  ];
}

/** Renders rows as aligned columns. */
export function renderTable(rows: StatusRow[]): string {
  const header: StatusRow = { kind: 'RESOURCE', name: 'NAME', id: 'ID', state: 'STATE', detail: 'DETAIL' };
  const all = [header, ...rows];
  const keys = ['kind', 'name', 'id', 'state'] as const;
  const widths = keys.map((key) => Math.max(...all.map((row) => row[key].length)));
  return all.map((row) => [...keys.map((key, i) => row[key].padEnd(widths[i] ?? 0)), row.detail].join('  ').trimEnd()).join('\n');
}

/** Runs `argos <env> status`. */
export async function status(ctx: Context<StatusOptions>): Promise<void> {
  const result = await gatherStatus(ctx);
  if (ctx.options.json) {
    ctx.reporter.result(JSON.stringify(result, null, 2));
    return;
  }
  const lines = [
    `${ctx.env}: ${result.commissioned ? 'commissioned' : 'not commissioned'}${result.url ? ` — ${result.url}` : ''}`,
    '',
    renderTable(result.resources),
    '',
    ...(result.kept.finalSnapshots > 0
      ? [
          `kept: ${result.kept.finalSnapshots} final snapshot${result.kept.finalSnapshots === 1 ? '' : 's'}, ${result.kept.totalGiB} GiB in total, billed as snapshot storage until deleted ` +
            `(argos ${ctx.env} clean --final-snapshots <days> deletes old ones)`,
          '',
        ]
      : []),
    result.drift.length > 0 ? `drift:\n${result.drift.map((d) => `  - ${d}`).join('\n')}` : 'drift: none',
  ];
  // The table is the command's result, not progress: plain, without timestamps.
  ctx.reporter.result(lines.join('\n'));
}
