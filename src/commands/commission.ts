/**
 * `argos <env> commission`: stand the environment up, or converge an existing
 * one. Preflight first (every problem at once, nothing created); then the
 * security groups; then at the same time the image (and the broker, which
 * starts from it), the database and the load balancer; then the launch
 * template and autoscaling group; then the hosts file and the deploy.
 * Every step finds what an earlier run made, so a re-run resumes.
 */
import { DescribeAvailabilityZonesCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { ensureAppServers, ensureLoadBalancer, findAutoScalingGroup, findLoadBalancer } from '../autoscaling.js';
import { findDefaultVpc, type DefaultVpc } from '../aws/vpc.js';
import { ensureBroker, findBrokers, isBrokerWanted } from '../broker.js';
import type { Context } from '../context.js';
import { ensureDatabase, findDatabase } from '../database.js';
import { ArgosError } from '../errors.js';
import { ensureImage, findImage } from '../image.js';
import { checkKeyFile, checkKeyPair } from '../keys.js';
import type { CommissionOptions } from '../options.js';
import { formatDuration } from '../reporter.js';
import { ensureSecurityGroups, findSecurityGroups, type SecurityGroupIds } from '../security.js';
import { errorCode } from '../wait.js';
import { deployEnvironment, refreshHostsFile } from './deploy.js';
import { prepareBake } from './prepare-bake.js';
import { Timeline } from './timeline.js';

/** Runs `argos <env> commission`. */
export async function commission(ctx: Context<CommissionOptions>): Promise<void> {
  const timeline = new Timeline(ctx.reporter, () => ctx.runtime.clock.now());
  const imageExists = await preflight(ctx);
  if (ctx.options.dryRun) {
    await describePlan(ctx, imageExists);
    return;
  }
  const background: Promise<void>[] = [];
  try {
    await buildEnvironment(ctx, timeline, background);
  } catch (error) {
    // A bake's cleanup may still be under way: let it finish before saying what exists.
    await Promise.allSettled(background);
    const made = timeline.resources();
    ctx.reporter.info(
      `${ctx.signal.aborted ? 'interrupted' : 'stopped'}; exists now: ${made.length > 0 ? made.join(', ') : 'nothing new'}. ` +
        `Run \`argos ${ctx.env} commission\` again to continue where it stopped (nothing is created twice).`,
    );
    throw error;
  }
}

/**
 * Checks everything that can be checked before creating anything and reports
 * every problem at once. Returns whether the image already exists (then no bake,
 * so no base AMI and no Ansible are needed for it).
 */
export async function preflight(ctx: Context<CommissionOptions>): Promise<boolean> {
  const { ec2 } = ctx.clients;
  const problems: string[] = [];
  try {
    await ec2.send(new DescribeAvailabilityZonesCommand({}));
  } catch (error) {
    throw new ArgosError('CREDENTIALS', `AWS refused the credentials (${errorCode(error) ?? 'error'}: ${(error as Error).message}): check AWS_PROFILE or the access keys`, { cause: error });
  }
  problems.push(...(await checkKeyFile(ctx.paths.keyFile, ctx.paths.root)));
  problems.push(...(await checkKeyPair(ec2, ctx.config.keyName, ctx.region)));
  const image = await findImage(ec2, ctx.names);
  if (!image) {
    try {
      const base = await ec2.send(new DescribeImagesCommand({ ImageIds: [ctx.config.baseAmi] }));
      if (!base.Images?.length) problems.push(`base_ami ${ctx.config.baseAmi} not found in ${ctx.region}: use an AMI id of that region`);
    } catch (error) {
      problems.push(`base_ami ${ctx.config.baseAmi} not found in ${ctx.region} (${errorCode(error)}): use an AMI id of that region`);
    }
  }
  if (ctx.options.deploy || !image) {
    try {
      await ctx.runtime.findAnsiblePlaybook();
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) {
    throw new ArgosError('CONFIG', `preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing was created: ${problems.map((p, i) => `(${i + 1}) ${p}`).join(' ')}`);
  }
  return image !== undefined;
}

/** `--dry-run`: what exists and what would be created, from Describe calls only. */
async function describePlan(ctx: Context<CommissionOptions>, imageExists: boolean): Promise<void> {
  const { ec2, rds, elb, autoScaling } = ctx.clients;
  const { names } = ctx;
  const vpc = await findDefaultVpc(ec2, ctx.region);
  const [groups, database, loadBalancer, group, brokers] = await Promise.all([
    findSecurityGroups(ec2, names, vpc.vpcId),
    findDatabase(rds, names.database),
    findLoadBalancer(elb, names.loadBalancer),
    findAutoScalingGroup(autoScaling, names.appServers),
    findBrokers(ec2, names),
  ]);
  const line = (exists: boolean, what: string) => `  ${exists ? 'exists      ' : 'would create'} ${what}`;
  const plan = [
    ...(['elb', 'app', 'database', 'broker'] as const).map((g) => line(groups.has(g), `security group ${names.securityGroup(g)}`)),
    line(imageExists, `image ${names.image}${imageExists ? '' : ` (baked from ${ctx.config.baseAmi} on a temporary ${ctx.config.imageInstanceType})`}`),
    line(database !== undefined, `database ${names.database} (${ctx.options.dbInstanceType ?? ctx.config.dbInstanceType}, ${ctx.config.dbAllocatedStorage} GiB, PostgreSQL ${ctx.config.dbEngineVersion})`),
    line(loadBalancer !== undefined, `load balancer ${names.loadBalancer}`),
    line(group !== undefined, `autoscaling group ${names.appServers} (min ${ctx.options.minSize}, max ${ctx.options.maxSize}, ${ctx.options.instanceType ?? ctx.config.appInstanceType})`),
    ...(isBrokerWanted(ctx.options.withBroker, ctx.config.brokerEnabled) ? [line(brokers.length > 0, `broker ${names.broker}`)] : []),
    `  ${ctx.options.deploy ? 'would run   ' : 'would skip  '} the playbooks (deploy)`,
  ];
  ctx.reporter.info(`dry run: nothing was changed. Plan for ${ctx.env}:\n${plan.join('\n')}`);
}

/** The steps, in order, with the independent ones at the same time. */
async function buildEnvironment(ctx: Context<CommissionOptions>, timeline: Timeline, background: Promise<void>[]): Promise<void> {
  const { ec2, rds, elb } = ctx.clients;
  const { names, config, options } = ctx;
  const wait = (note: (text: string) => void) => ({ signal: ctx.signal, onProgress: note, clock: ctx.runtime.clock });

  const wantBroker = isBrokerWanted(options.withBroker, config.brokerEnabled);
  ctx.reporter.plan([
    'security groups',
    `image ${names.image}`,
    `database ${names.database}`,
    `load balancer ${names.loadBalancer}`,
    ...(wantBroker ? [`broker ${names.broker}`] : []),
    `app servers ${names.appServers}`,
    'remove the image-bake instance',
    `find the hosts of ${ctx.env} and write hosts/hosts_${ctx.env}`,
  ]);
  const vpc: DefaultVpc = await findDefaultVpc(ec2, ctx.region);
  const groups: SecurityGroupIds = await timeline.step('security groups', async () => {
    const result = await ensureSecurityGroups(ec2, { names, vpcId: vpc.vpcId, appPort: config.appPort });
    const created = result.created.length > 0;
    // The rules of new groups are part of creating them, not changes worth listing.
    return { value: result.ids, skip: created ? undefined : 'exists', changes: created ? [] : result.changes, resource: `security groups ${Object.values(result.ids).join(', ')}` };
  });

  // Independent of one another: run together, but let every branch finish
  // (a bake must clean up after itself) before reporting the first failure.
  const imageAndBroker = (async () => {
    const image = await timeline.step(`image ${names.image}`, async (step) => {
      const result = await ensureImage(ec2, names, () => prepareBake(ctx), wait((n) => step.note(n)));
      // The bake instance is removed while the next steps run: they need only the image.
      if (result.outcome === 'baked') background.push(result.cleanup);
      return { value: result.image, skip: (result.outcome !== 'baked') ? 'exists' : undefined, resource: `image ${result.image.imageId}` };
    });
    if (!wantBroker) return { image, broker: undefined };
    const broker = await timeline.step(`broker ${names.broker}`, async (step) => {
      const result = await ensureBroker(
        ec2,
        { names, imageId: image.imageId, instanceType: config.brokerInstanceType, keyName: config.keyName, securityGroupId: groups.broker, subnetId: vpc.subnets[0]?.subnetId, rootVolumeSize: config.rootVolumeSize },
        wait((n) => step.note(n)),
      );
      return { value: result, skip: (!result.created) ? 'exists' : undefined, resource: `broker ${result.instanceId}` };
    });
    return { image, broker };
  })();
  const database = timeline.step(`database ${names.database}`, async (step) => {
    const result = await ensureDatabase(
      rds,
      {
        names,
        subnetIds: vpc.subnets.map((subnet) => subnet.subnetId),
        securityGroupId: groups.database,
        user: config.dbUser,
        password: config.dbPassword,
        instanceClass: options.dbInstanceType ?? config.dbInstanceType,
        allocatedStorage: config.dbAllocatedStorage,
        engineVersion: config.dbEngineVersion,
        multiAz: config.dbMultiAz,
        deletionProtection: config.dbDeletionProtection,
      },
      wait((n) => step.note(n)),
    );
    return { value: result, skip: (!result.created) ? 'exists' : undefined, resource: `database ${result.identifier}` };
  });
  const appSpec = {
    names,
    instanceType: options.instanceType ?? config.appInstanceType,
    keyName: config.keyName,
    appSecurityGroupId: groups.app,
    elbSecurityGroupId: groups.elb,
    subnets: vpc.subnets,
    appPort: config.appPort,
    healthCheckPath: config.healthCheckPath,
    rootVolumeSize: config.rootVolumeSize,
    minSize: options.minSize,
    maxSize: options.maxSize,
    scalingTargetCpu: config.scalingTargetCpu,
  };
  const loadBalancer = timeline.step(`load balancer ${names.loadBalancer}`, async (step) => {
    const result = await ensureLoadBalancer(elb, appSpec, wait((n) => step.note(n)));
    return { value: result, skip: (!result.created) ? 'exists' : undefined, changes: result.changes, resource: `load balancer ${result.name}` };
  });
  const [first, second, third] = await Promise.allSettled([imageAndBroker, database, loadBalancer]);
  const failure = [first, second, third].find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
  const { image, broker } = (first as PromiseFulfilledResult<Awaited<typeof imageAndBroker>>).value;
  const db = (second as PromiseFulfilledResult<Awaited<typeof database>>).value;

  const servers = await timeline.step(`app servers ${names.appServers}`, async (step) => {
    const result = await ensureAppServers(ctx.clients, { ...appSpec, imageId: image.imageId }, wait((n) => step.note(n)));
    const changes = [...result.launchTemplate.changes, ...result.group.changes, ...result.scalingPolicy.changes];
    if (result.replacedInstanceIds.length > 0) changes.push(`replaced instances ${result.replacedInstanceIds.join(', ')}`);
    return { value: result, skip: (!result.group.created) ? 'exists' : undefined, changes, resource: `autoscaling group ${names.appServers} (${result.instanceIds.join(', ')})` };
  });

  await timeline.step('remove the image-bake instance', async () => {
    if (background.length === 0) return { value: undefined, skip: 'nothing to remove' };
    try {
      await Promise.all(background);
    } catch (error) {
      throw new ArgosError('FAILED', `the image is ready, but removing its bake instance failed (${(error as Error).message}): run argos ${ctx.env} clean --dry-run to see what is left`, { cause: error });
    }
    return { value: undefined };
  });

  if (options.deploy) {
    await deployEnvironment(ctx, undefined);
  } else {
    await refreshHostsFile(ctx);
  }
  const times = timeline.records.map((record) => `${record.title} ${formatDuration(record.ms)}${record.reason ? ` (${record.reason})` : ''}`);
  ctx.reporter.info(
    [
      `${ctx.env} is commissioned.`,
      `  app URL:     ${servers.url}`,
      `  database:    ${db.address}:${db.port}`,
      `  app servers: ${servers.instanceIds.join(', ')}`,
      ...(broker ? [`  broker:      ${broker.instanceId} (${broker.privateDnsName ?? 'no private name'})`] : []),
      `  image:       ${image.imageId}`,
      `  step times:  ${times.join(', ')}`,
      ...(options.deploy ? [] : [`  not deployed (--no-deploy): run argos ${ctx.env} deploy when ready`]),
    ].join('\n'),
  );
}
