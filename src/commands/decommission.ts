/**
 * `argos <env> decommission`: show exactly what will be deleted and what is
 * kept, confirm, then delete in the safe order (safety.md): autoscaling group
 * and its instances → launch templates → load balancer → broker → database
 * (final snapshot unless skipped) → DB subnet group → security groups. A re-run
 * finishes whatever an interrupted one left.
 */
import { rm } from 'node:fs/promises';
import { deleteAppServers, findAutoScalingGroup, findLaunchTemplates, findLoadBalancer } from '../autoscaling.js';
import { findDefaultVpc } from '../aws/vpc.js';
import { deleteBroker, findBrokers } from '../broker.js';
import { confirmOrExit } from '../confirm.js';
import type { Context } from '../context.js';
import { deleteDatabase, deleteDatabaseSubnetGroup, finalSnapshotName, findDatabase, hasDatabaseSubnetGroup } from '../database.js';
import { deleteImage, findBakeLeftovers, findImage } from '../image.js';
import type { DecommissionOptions } from '../options.js';
import { deleteSecurityGroups, findSecurityGroups } from '../security.js';
import { Timeline } from './timeline.js';

/** Everything decommission would delete, found by name and tags (Describe calls only). */
export interface TeardownPlan {
  deletes: string[];
  keeps: string[];
  finalSnapshot: string | undefined;
  liftsDeletionProtection: boolean;
  vpcId: string;
}

/** Finds what exists and says what a decommission would delete and keep. */
export async function planTeardown(ctx: Context<DecommissionOptions>, now = new Date()): Promise<TeardownPlan> {
  const { ec2, rds, elb, autoScaling } = ctx.clients;
  const { names, options } = ctx;
  const vpc = await findDefaultVpc(ec2, ctx.region);
  const [group, templates, loadBalancer, brokers, database, subnetGroup, groups, image, leftovers] = await Promise.all([
    findAutoScalingGroup(autoScaling, names.appServers),
    findLaunchTemplates(ec2, names),
    findLoadBalancer(elb, names.loadBalancer),
    findBrokers(ec2, names),
    findDatabase(rds, names.database),
    hasDatabaseSubnetGroup(rds, names),
    findSecurityGroups(ec2, names, vpc.vpcId),
    findImage(ec2, names),
    findBakeLeftovers(ec2, names),
  ]);
  const finalSnapshot = database && !options.skipFinalSnapshot ? finalSnapshotName(names.database, now) : undefined;
  const instances = (group?.Instances ?? []).map((instance) => instance.InstanceId).join(', ');
  const deletes = [
    ...(group ? [`autoscaling group ${names.appServers}${instances ? ` and its instances ${instances}` : ''}`] : []),
    ...templates.map((template) => `launch template ${template.name} (${template.id})`),
    ...(loadBalancer ? [`load balancer ${names.loadBalancer} (${loadBalancer.DNSName})`] : []),
    ...brokers.map((broker) => `broker instance ${broker.instanceId}`),
    ...(database
      ? [`database ${database.identifier} (${database.status})${finalSnapshot ? '' : ' WITHOUT a final snapshot: its data will be lost'}${database.deletionProtection ? ', lifting its deletion protection' : ''}`]
      : []),
    ...(subnetGroup ? [`DB subnet group ${names.databaseSubnetGroup}`] : []),
    ...[...groups.values()].map((sg) => `security group ${sg.GroupName} (${sg.GroupId})`),
    ...(options.deleteImage && image ? [`image ${names.image} (${image.imageId}) and its snapshots`] : []),
    ...(options.deleteImage ? [...leftovers.instanceIds, ...leftovers.securityGroupIds].map((id) => `bake leftover ${id}`) : []),
  ];
  const keeps = [
    ...(image && !options.deleteImage ? [`image ${names.image} (${image.imageId})`] : []),
    ...(finalSnapshot ? [`final snapshot ${finalSnapshot}`] : []),
  ];
  return { deletes, keeps, finalSnapshot, liftsDeletionProtection: database?.deletionProtection ?? false, vpcId: vpc.vpcId };
}

/** Runs `argos <env> decommission`. */
export async function decommission(ctx: Context<DecommissionOptions>): Promise<void> {
  const { reporter, names, clients, options } = ctx;
  const plan = await reporter.step(`find what exists for ${ctx.env}`, () => planTeardown(ctx));
  if (plan.deletes.length === 0) {
    reporter.info(`nothing to decommission for ${ctx.env}${plan.keeps.length ? ` (kept: ${plan.keeps.join(', ')})` : ''}`);
    if (!options.dryRun) await removeEnvironmentFiles(ctx);
    return;
  }
  reporter.info(
    [`will delete:`, ...plan.deletes.map((d) => `  - ${d}`), ...(plan.keeps.length ? ['will keep:', ...plan.keeps.map((k) => `  - ${k}`)] : [])].join('\n'),
  );
  if (options.dryRun) {
    reporter.info('dry run: nothing was deleted');
    return;
  }
  const protection = plan.liftsDeletionProtection ? ' The database has deletion protection on: this lifts it.' : '';
  await confirmOrExit(reporter, `This will dismantle the application infrastructure for [${ctx.env}].${protection} Are you sure?`, { yes: options.yes, action: `decommission ${ctx.env}`, signal: ctx.signal });

  const timeline = new Timeline(reporter, () => ctx.runtime.clock.now());
  const wait = (note: (text: string) => void) => ({ signal: ctx.signal, onProgress: note, clock: ctx.runtime.clock });
  try {
    await timeline.step('app servers, launch templates and load balancer', async (step) => {
      const result = await deleteAppServers(clients, names, wait((n) => step.note(n)));
      return { value: result, skip: (!result.group && result.launchTemplates.length === 0 && !result.loadBalancer) ? 'nothing to delete' : undefined };
    });
    await timeline.step('broker', async (step) => {
      const ids = await deleteBroker(clients.ec2, names, wait((n) => step.note(n)));
      return { value: ids, skip: (ids.length === 0) ? 'nothing to delete' : undefined };
    });
    await timeline.step(`database ${names.database}${plan.finalSnapshot ? ` (final snapshot ${plan.finalSnapshot})` : ''}`, async (step) => {
      const existed = await deleteDatabase(
        clients.rds,
        { identifier: names.database, finalSnapshot: plan.finalSnapshot, liftDeletionProtection: plan.liftsDeletionProtection },
        wait((n) => step.note(n)),
      );
      const subnetGroup = await deleteDatabaseSubnetGroup(clients.rds, names);
      return { value: undefined, skip: (!existed && !subnetGroup) ? 'nothing to delete' : undefined };
    });
    await timeline.step('security groups', async (step) => {
      const deleted = await deleteSecurityGroups(clients.ec2, names, plan.vpcId, wait((n) => step.note(n)));
      return { value: deleted, skip: (deleted.length === 0) ? 'nothing to delete' : undefined };
    });
    if (options.deleteImage) {
      await timeline.step(`image ${names.image}`, async (step) => {
        const result = await deleteImage(clients.ec2, names, wait((n) => step.note(n)));
        return { value: result, skip: (!result.image) ? 'nothing to delete' : undefined };
      });
    }
  } catch (error) {
    reporter.info(`${ctx.signal.aborted ? 'interrupted' : 'stopped'}: run \`argos ${ctx.env} decommission\` again to finish what is left`);
    throw error;
  }
  await removeEnvironmentFiles(ctx);
  reporter.info(`${ctx.env} is decommissioned.${plan.keeps.length ? ` Kept: ${plan.keeps.join(', ')}.` : ''}`);
}

/** The environment's hosts and known_hosts files describe nothing any more. */
async function removeEnvironmentFiles(ctx: Context): Promise<void> {
  await rm(ctx.paths.hostsFile, { force: true });
  await rm(ctx.paths.knownHostsFile, { force: true });
}
