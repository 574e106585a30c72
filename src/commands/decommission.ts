/**
 * `argos <env> decommission`: show exactly what will be deleted and what is
 * kept, confirm, then delete in the safe order (safety.md): the workers'
 * autoscaling group and its instances → their launch templates → the app
 * servers' group and its instances → launch templates → load balancer → release images (and
 * their snapshots) → broker → database
 * (final snapshot unless skipped) → DB subnet group → security groups. A re-run
 * finishes whatever an interrupted one left.
 */
import { rm } from 'node:fs/promises';
import { deleteAppServers, deleteWorkers, findImageUsers, findLaunchTemplates, lookupAutoScalingGroup, lookupLoadBalancer } from '../autoscaling.js';
import { findDefaultVpc } from '../aws/vpc.js';
import { deleteBroker, findBrokers } from '../broker.js';
import { confirmOrExit } from '../confirm.js';
import { progressOf, type Context } from '../context.js';
import { deleteDatabase, deleteDatabaseSubnetGroup, describeSnapshotSize, finalSnapshotName, findFinalSnapshots, lookupDatabase, lookupDatabaseSubnetGroup } from '../database.js';
import { deleteImage, findBakeLeftovers, findImage } from '../image.js';
import type { EnvNames } from '../names.js';
import { deleteReleaseImages, findReleaseImages } from '../release.js';
import type { DecommissionOptions } from '../options.js';
import { describeConflict, ownedOnly, type Lookup } from '../ownership.js';
import { deleteSecurityGroups, findSecurityGroups } from '../security.js';
import { imageInUseError } from './clean.js';
import { previewSteps, runSteps, type Step, stepHostOf } from './steps.js';

/** `the load balancer … is not argos x-y's: …: left alone`, for each lookup that found someone else's resource. */
function leftAlone(names: EnvNames, ...lookups: Lookup<unknown>[]): string[] {
  return lookups.flatMap((lookup) => (lookup.kind === 'conflict' ? [`${describeConflict(lookup.conflict, names)}: left alone`] : []));
}

/** What the teardown steps find and hand on to one another. */
interface TeardownState {
  vpcId?: string;
  /** Set by the database step's preview: the final snapshot to take, if any. */
  finalSnapshot?: string | undefined;
  liftsDeletionProtection?: boolean;
}

/**
 * The steps of decommission, in the safe order. Each step's preview says what
 * it would delete (name and id) and keep; the run deletes, each step succeeding
 * on what is already gone.
 */
function teardownSteps(ctx: Context<DecommissionOptions>, now = new Date()): Step<TeardownState>[] {
  const { ec2, rds, elb, autoScaling } = ctx.clients;
  const { names, options } = ctx;
  const vpcId = async (state: TeardownState) => (state.vpcId ??= (await findDefaultVpc(ec2, ctx.region)).vpcId);
  return [
    {
      // First: their security group goes last, once no instance holds it.
      id: 'workers',
      title: 'workers and their launch templates',
      preview: async () => {
        const [groupLookup, templates] = await Promise.all([lookupAutoScalingGroup(autoScaling, names, 'worker'), findLaunchTemplates(ec2, names, 'worker')]);
        const group = ownedOnly(groupLookup);
        const instances = (group?.Instances ?? []).map((instance) => instance.InstanceId).join(', ');
        return {
          actions: [
            ...(group ? [`autoscaling group ${names.worker}${instances ? ` and its instances ${instances}` : ''}`] : []),
            ...templates.map((template) => `launch template ${template.name} (${template.id})`),
          ],
          keeps: leftAlone(names, groupLookup),
        };
      },
      run: async (_state, step) => {
        const result = await deleteWorkers(ctx.clients, names, progressOf(ctx, step));
        if (result.conflict) step.note(`${describeConflict(result.conflict, names)}: left alone`);
        return { skip: !result.group && result.launchTemplates.length === 0 ? 'nothing to delete' : undefined };
      },
    },
    {
      id: 'app-servers',
      title: 'app servers, launch templates and load balancer',
      preview: async () => {
        const [groupLookup, templates, loadBalancerLookup] = await Promise.all([
          lookupAutoScalingGroup(autoScaling, names),
          findLaunchTemplates(ec2, names),
          lookupLoadBalancer(elb, names),
        ]);
        // Another app's group or load balancer under this environment's names is kept, and said so.
        const group = ownedOnly(groupLookup);
        const loadBalancer = ownedOnly(loadBalancerLookup);
        const instances = (group?.Instances ?? []).map((instance) => instance.InstanceId).join(', ');
        return {
          actions: [
            ...(group ? [`autoscaling group ${names.appServers}${instances ? ` and its instances ${instances}` : ''}`] : []),
            ...templates.map((template) => `launch template ${template.name} (${template.id})`),
            ...(loadBalancer ? [`load balancer ${names.loadBalancer} (${loadBalancer.DNSName})`] : []),
          ],
          keeps: leftAlone(names, groupLookup, loadBalancerLookup),
        };
      },
      run: async (_state, step) => {
        const result = await deleteAppServers(ctx.clients, names, progressOf(ctx, step));
        for (const conflict of result.conflicts) step.note(`${describeConflict(conflict, names)}: left alone`);
        return { skip: !result.group && result.launchTemplates.length === 0 && !result.loadBalancer ? 'nothing to delete' : undefined };
      },
    },
    {
      // After the group: no instance runs from them any more. The base image stays (shared).
      id: 'release-images',
      title: 'release images',
      preview: async () => {
        const [releases, leftovers] = await Promise.all([findReleaseImages(ec2, names), findBakeLeftovers(ec2, names, 'release')]);
        return {
          actions: [
            ...releases.map((release) => `release image ${release.name} (${release.imageId}, git ref ${release.gitRef}) and its snapshots`),
            ...[...leftovers.instanceIds, ...leftovers.securityGroupIds].map((id) => `release build leftover ${id}`),
          ],
        };
      },
      run: async (_state, step) => {
        const result = await deleteReleaseImages(ec2, names, progressOf(ctx, step));
        if (result.releases.length > 0) step.note(`${result.releases.length} release image(s), ${result.snapshotIds.length} snapshot(s)`);
        return { skip: result.releases.length === 0 && result.leftovers.length === 0 ? 'nothing to delete' : undefined };
      },
    },
    {
      id: 'broker',
      title: 'broker',
      preview: async () => ({ actions: (await findBrokers(ec2, names)).map((broker) => `broker instance ${broker.instanceId}`) }),
      run: async (_state, step) => {
        const ids = await deleteBroker(ec2, names, progressOf(ctx, step));
        return { skip: ids.length === 0 ? 'nothing to delete' : undefined };
      },
    },
    {
      id: 'database',
      title: `database ${names.database}`,
      preview: async (state) => {
        const [databaseLookup, subnetGroupLookup, kept] = await Promise.all([
          lookupDatabase(rds, names.database, names),
          lookupDatabaseSubnetGroup(rds, names),
          findFinalSnapshots(rds, names.app, names.env),
        ]);
        const database = ownedOnly(databaseLookup);
        const subnetGroup = ownedOnly(subnetGroupLookup);
        state.finalSnapshot = database && !options.skipFinalSnapshot ? finalSnapshotName(names.database, now) : undefined;
        state.liftsDeletionProtection = database?.deletionProtection ?? false;
        return {
          actions: [
            ...(database
              ? [`database ${database.identifier} (${database.status})${state.finalSnapshot ? '' : ' WITHOUT a final snapshot: its data will be lost'}${database.deletionProtection ? ', lifting its deletion protection' : ''}`]
              : []),
            ...(subnetGroup ? [`DB subnet group ${names.databaseSubnetGroup}`] : []),
          ],
          keeps: [
            ...(state.finalSnapshot ? [`final snapshot ${state.finalSnapshot}`] : []),
            // Kept from earlier decommissions: storage billed until deleted (clean --final-snapshots).
            ...kept.map((snapshot) => `final snapshot ${snapshot.identifier} (${describeSnapshotSize(snapshot)})`),
            ...leftAlone(names, databaseLookup, subnetGroupLookup),
          ],
        };
      },
      run: async (state, step) => {
        // Looked up again: only what is this environment's is deleted, another app's is left alone.
        const [databaseLookup, subnetGroupLookup] = await Promise.all([lookupDatabase(rds, names.database, names), lookupDatabaseSubnetGroup(rds, names)]);
        for (const line of leftAlone(names, databaseLookup, subnetGroupLookup)) step.note(line);
        if (state.finalSnapshot && databaseLookup.kind === 'owned') step.note(`final snapshot ${state.finalSnapshot}`);
        const existed =
          databaseLookup.kind === 'owned' &&
          (await deleteDatabase(
            rds,
            { identifier: names.database, finalSnapshot: state.finalSnapshot, liftDeletionProtection: state.liftsDeletionProtection ?? false, owner: names },
            progressOf(ctx, step),
          ));
        const subnetGroup = subnetGroupLookup.kind === 'owned' && (await deleteDatabaseSubnetGroup(rds, names));
        return { skip: !existed && !subnetGroup ? 'nothing to delete' : undefined };
      },
    },
    {
      id: 'security-groups',
      title: 'security groups',
      preview: async (state) => ({
        actions: [...(await findSecurityGroups(ec2, names, await vpcId(state))).values()].map((sg) => `security group ${sg.GroupName} (${sg.GroupId})`),
      }),
      run: async (state, step) => {
        const deleted = await deleteSecurityGroups(ec2, names, await vpcId(state), progressOf(ctx, step));
        return { skip: deleted.length === 0 ? 'nothing to delete' : undefined };
      },
    },
    {
      id: 'image',
      title: `image ${names.image}`,
      preview: async () => {
        const [image, leftovers] = await Promise.all([findImage(ec2, names), findBakeLeftovers(ec2, names)]);
        if (!options.deleteImage) return { actions: [], keeps: image ? [`image ${names.image} (${image.imageId})`] : [] };
        if (image) {
          // Shared: refused while another environment's launch template uses it (this one's go first).
          const own = new Set((await findLaunchTemplates(ec2, names)).map((template) => template.id));
          const others = (await findImageUsers(ec2, image.imageId)).filter((user) => !own.has(user.id));
          if (others.length > 0) throw imageInUseError(names, image, others, `decommission without --delete-image (the image is kept)`);
        }
        return {
          actions: [
            ...(image ? [`image ${names.image} (${image.imageId}) and its snapshots`] : []),
            ...[...leftovers.instanceIds, ...leftovers.securityGroupIds].map((id) => `bake leftover ${id}`),
          ],
        };
      },
      run: async (_state, step) => {
        // Shared by every environment: deleted only when asked for.
        if (!options.deleteImage) return { skip: 'kept (shared by every environment; --delete-image deletes it)' };
        const result = await deleteImage(ec2, names, progressOf(ctx, step));
        return { skip: !result.image ? 'nothing to delete' : undefined };
      },
    },
  ];
}

/** Runs `argos <env> decommission`. */
export async function decommission(ctx: Context<DecommissionOptions>): Promise<void> {
  const { reporter, options } = ctx;
  const steps = teardownSteps(ctx);
  const state: TeardownState = {};
  const previews = await reporter.step(`find what exists for ${ctx.env}`, () => previewSteps(steps, state));
  const deletes = previews.flatMap(({ preview }) => preview.actions);
  const keeps = previews.flatMap(({ preview }) => preview.keeps ?? []);
  if (deletes.length === 0) {
    reporter.info([`nothing to decommission for ${ctx.env}${keeps.length ? '; kept:' : ''}`, ...keeps.map((k) => `  - ${k}`)].join('\n'));
    if (!options.dryRun) await removeEnvironmentFiles(ctx);
    return;
  }
  reporter.info([`will delete:`, ...deletes.map((d) => `  - ${d}`), ...(keeps.length ? ['will keep:', ...keeps.map((k) => `  - ${k}`)] : [])].join('\n'));
  if (options.dryRun) {
    reporter.info('dry run: nothing was deleted');
    return;
  }
  const protection = state.liftsDeletionProtection ? ' The database has deletion protection on: this lifts it.' : '';
  await confirmOrExit(reporter, `This will dismantle the application infrastructure for [${ctx.env}].${protection} Are you sure?`, { yes: options.yes, action: `decommission ${ctx.env}`, signal: ctx.signal });
  try {
    await runSteps(steps, state, stepHostOf(ctx));
  } catch (error) {
    reporter.info(`${ctx.signal.aborted ? 'interrupted' : 'stopped'}: run \`argos ${ctx.env} decommission\` again to finish what is left`);
    throw error;
  }
  await removeEnvironmentFiles(ctx);
  reporter.info(`${ctx.env} is decommissioned.${keeps.length ? ` Kept: ${keeps.join(', ')}.` : ''}`);
}

/** The environment's hosts and known_hosts files describe nothing any more. */
async function removeEnvironmentFiles(ctx: Context): Promise<void> {
  await rm(ctx.paths.hostsFile, { force: true });
  await rm(ctx.paths.knownHostsFile, { force: true });
}
