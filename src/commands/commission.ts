/**
 * `argos <env> commission`: stand the environment up, or converge an existing
 * one. Preflight first (every problem at once, nothing created); then the
 * security groups; then at the same time the image (and the broker, which
 * starts from it), the database and the load balancer; then the app servers'
 * launch template and autoscaling group. A new environment's group launches
 * from the base image, with health replacement suspended, and the deploy
 * configures its instances in place (the shortest way to an app answering
 * through the load balancer); while a new database is still being created,
 * they get what needs no database first (prepare-servers.ts). The release
 * image is made meanwhile on a temporary instance, and once the app servers
 * serve, their launch template points at it, so every instance launched
 * later serves from boot. Workers
 * launch from the release image. Every step finds what an earlier run made,
 * so a re-run resumes (from an existing release image, its instances serve from boot).
 */
import { DescribeAvailabilityZonesCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import {
  buildHealthCheck,
  ensureAppServers,
  ensureLoadBalancer,
  ensureWorkers,
  findAppServerSettings,
  planAppServers,
  planLoadBalancer,
  planWorkers,
  pointAppServersAt,
  waitForGroupInstancesRunning,
  waitForInService,
  type AppServerSettings,
  type AppServersResult,
  type AppServersSpec,
  type LoadBalancerResult,
  type Tier,
  type WorkersResult,
  type WorkersSpec,
} from '../autoscaling.js';
import { findAnsibleTargetProblem } from '../ansible-targets.js';
import { resumeHealthReplacement, suspendHealthReplacement } from '../autoscaling/rotation.js';
import { describeUnreachable } from '../aws/error-codes.js';
import { findDefaultVpc, findOfferedSubnets, type DefaultVpc } from '../aws/vpc.js';
import { ensureBroker, findBrokers, isBrokerWanted, type EnsureBrokerResult } from '../broker.js';
import { progressOf, type Context } from '../context.js';
import { checkEngineVersion, diffInstanceClass, ensureDatabase, findDatabase, lookupDatabase, type DatabaseSpec, type EnsureDatabaseResult } from '../database.js';
import { ArgosError, usageError } from '../errors.js';
import { ensureImage, findImage, type ImageInfo } from '../image.js';
import { checkKeyFile, checkKeyPair } from '../keys.js';
import { summarizeInventory } from '../hosts.js';
import { findNewEnvNameProblem } from '../names.js';
import type { CommissionOptions } from '../options.js';
import { ownedOrThrow } from '../ownership.js';
import { formatDuration } from '../reporter.js';
import { ensureSecurityGroups, hasEnvironmentSecurityGroups, planSecurityGroups, type SecurityGroupIds, type SecurityGroupsSpec } from '../security.js';
import { errorCode } from '../wait.js';
import { findSshConfigProblem, inspectAccess } from './connection.js';
import { deploySteps, refreshHostsFile, resumeLeftovers, type DeployState } from './deploy.js';
import { prepareBake } from './prepare-bake.js';
import { prepareRelease } from './prepare-release.js';
import { PREPARE_SERVERS_STEP, prepareServersStep } from './prepare-servers.js';
import { ensureReleaseImage, findLiveImageId, findReleaseImages, type ReleaseImage } from '../release.js';
import { previewSteps, renderPreview, runSteps, StepRun, type Step, stepHostOf } from './steps.js';

/** What the steps find or make and hand on to one another. */
interface CommissionState extends DeployState {
  vpc?: DefaultVpc;
  /** The default VPC's subnets in zones that offer the app servers' instance type (the group launches there). */
  appSubnets?: DefaultVpc['subnets'];
  /** Likewise for the broker's type, when a broker is wanted. */
  brokerSubnets?: DefaultVpc['subnets'];
  /** Likewise for the workers' type, when workers are wanted. */
  workerSubnets?: DefaultVpc['subnets'];
  /** The app servers' sizes and instance type for this run, resolved before any step. */
  appServers?: AppServerSettings;
  /** The workers' sizes and instance type for this run, when workers are wanted. */
  workerSettings?: AppServerSettings;
  workers?: WorkersResult;
  groups?: SecurityGroupIds;
  image?: ImageInfo;
  broker?: EnsureBrokerResult;
  database?: EnsureDatabaseResult;
  loadBalancer?: LoadBalancerResult;
  /** The release image the app servers launch from; undefined: none yet (`--no-deploy` of a new environment). */
  release?: ReleaseImage | undefined;
  servers?: AppServersResult;
  /**
   * The health replacement processes suspended on a group launched from the
   * base image until the deploy has put the app on its instances; resumed
   * once they serve (or the run ends). Undefined: nothing suspended.
   */
  suspendedUntilServing?: string[] | undefined;
  /** The image the app servers' launch template named when the run began (`undefined`: no group, or its template gone). */
  liveImageId?: string | undefined;
  /** The image the app servers' launch template names after this run's app-servers step (or release-live). */
  appServersImageId?: string;
  /** The bake's (and the release build's) own cleanup (its instance and group), still under way while the next steps run. */
  bakeCleanup: Promise<void>[];
}

/** Whether this run should have worker servers: `--with-workers` or `workers_enabled: true`. */
function isWorkersWanted(ctx: Context<CommissionOptions>): boolean {
  return ctx.options.withWorkers || ctx.config.workersEnabled;
}

/**
 * Workers take their tasks from the broker: asking for workers without it is
 * a usage error (nothing is enabled behind the user's back: a broker is an
 * instance of its own, billed and holding the queues).
 */
function checkWorkersNeedBroker(ctx: Context<CommissionOptions>): void {
  if (!isWorkersWanted(ctx) || isBrokerWanted(ctx.options.withBroker, ctx.config.brokerEnabled)) return;
  const asked = ctx.options.withWorkers ? '--with-workers' : 'workers_enabled: true';
  throw usageError(`${asked} needs the broker: Celery workers take their tasks from it. Add --with-broker (or set broker_enabled: true in ${ctx.config.file})`);
}

/** Runs `argos <env> commission`. */
export async function commission(ctx: Context<CommissionOptions>): Promise<void> {
  checkWorkersNeedBroker(ctx);
  await preflight(ctx);
  const state = await findStartingState(ctx);
  const steps = commissionSteps(ctx);
  if (ctx.options.dryRun) {
    const previews = await previewSteps(steps, state);
    ctx.reporter.info(`dry run: nothing was changed. Plan for ${ctx.env}:\n${renderPreview(previews)}`);
    return;
  }
  const run = new StepRun();
  try {
    await runSteps(steps, state, stepHostOf(ctx), run);
  } catch (error) {
    // A bake's cleanup may still be under way: let it finish before saying what exists.
    await Promise.allSettled(state.bakeCleanup);
    const made = run.resources();
    ctx.reporter.info(
      `${ctx.signal.aborted ? 'interrupted' : 'stopped'}; exists now: ${made.length > 0 ? made.join(', ') : 'nothing new'}. ` +
        `Run \`argos ${ctx.env} commission\` again to continue where it stopped (nothing is created twice).`,
    );
    throw error;
  }
  const servers = need(state.servers);
  const database = need(state.database);
  ctx.reporter.info(
    [
      `${ctx.env} is commissioned.`,
      `  app URL:     ${servers.url}`,
      `  database:    ${database.address}:${database.port}`,
      `  app servers: ${servers.instanceIds.join(', ')}`,
      ...(state.broker ? [`  broker:      ${state.broker.instanceId} (${state.broker.privateDnsName ?? 'no private name'})`] : []),
      ...(state.workers ? [`  workers:     ${ctx.names.worker}: ${state.workers.instanceIds.join(', ') || 'no instance (min size 0)'}`] : []),
      `  image:       ${need(state.image).imageId}`,
      `  release:     ${state.release ? `${state.release.name} (${state.release.imageId}, git ref ${state.release.gitRef})` : 'none: the app servers run the base image until argos deploy makes a release image'}`,
      `  step times:  ${run.summary(formatDuration)}`,
      ...(ctx.options.deploy ? [] : [`  not deployed (--no-deploy): run argos ${ctx.env} deploy when ready`]),
    ].join('\n'),
  );
}

/**
 * Checks everything that can be checked before creating anything and reports
 * every problem at once. When the image exists, no bake is needed, so neither
 * is the base AMI (nor Ansible, with `--no-deploy`).
 */
export async function preflight(ctx: Context<CommissionOptions>): Promise<void> {
  const { ec2 } = ctx.clients;
  const problems: string[] = [];
  try {
    await ec2.send(new DescribeAvailabilityZonesCommand({}));
  } catch (error) {
    // Not reaching AWS at all is not a credentials problem: the CLI says which endpoint did not answer.
    if (describeUnreachable(error)) throw error;
    throw new ArgosError('CREDENTIALS', `AWS refused the credentials (${errorCode(error) ?? 'error'}: ${(error as Error).message}): check AWS_PROFILE or the access keys`, { cause: error });
  }
  problems.push(...(await checkKeyFile(ctx.paths.keyFile, ctx.paths.root)));
  const keyPair = await checkKeyPair(ec2, ctx.config.keyName, ctx.region, { path: ctx.paths.keyFile, root: ctx.paths.root });
  problems.push(...keyPair.problems);
  for (const warning of keyPair.warnings) ctx.reporter.warn(warning);
  const sshConfigProblem = await findSshConfigProblem(ctx);
  if (sshConfigProblem) problems.push(sshConfigProblem);
  // A hyphenated env name is refused for a new environment, kept for one that exists (README: Names and tags).
  const nameProblem = findNewEnvNameProblem(ctx.names.app, ctx.env);
  if (nameProblem && !(await hasEnvironmentSecurityGroups(ec2, ctx.names))) problems.push(nameProblem);
  const image = await findImage(ec2, ctx.names);
  /** What the base AMI's name and description say (its release, so its Python), when a bake needs it. */
  let baseImageText: string | undefined;
  if (!image) {
    try {
      const base = await ec2.send(new DescribeImagesCommand({ ImageIds: [ctx.config.baseAmi] }));
      if (!base.Images?.length) problems.push(`base_ami ${ctx.config.baseAmi} not found in ${ctx.region}: use an AMI id of that region`);
      else baseImageText = `${base.Images[0]?.Name ?? ''} ${base.Images[0]?.Description ?? ''}`;
    } catch (error) {
      problems.push(`base_ami ${ctx.config.baseAmi} not found in ${ctx.region} (${errorCode(error)}): use an AMI id of that region`);
    }
  }
  problems.push(...(await checkNewDatabaseEngine(ctx)));
  if (ctx.config.certificateArn !== undefined) {
    const { checkCertificate } = await import('../aws/certificates.js');
    problems.push(...(await checkCertificate(() => ctx.clients.acm(), ctx.config.certificateArn, ctx.region)));
  }
  if (ctx.options.deploy || !image) {
    try {
      const version = await ctx.runtime.findAnsiblePlaybook();
      // The bake runs the playbooks on the base AMI: its Python must be one this ansible-core manages.
      const targetProblem = baseImageText === undefined ? undefined : findAnsibleTargetProblem(version, { id: ctx.config.baseAmi, text: baseImageText });
      if (targetProblem) problems.push(targetProblem);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) {
    throw new ArgosError('CONFIG', `preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing was created: ${problems.map((p, i) => `(${i + 1}) ${p}`).join(' ')}`);
  }
}

/**
 * The PostgreSQL version check, for a database still to be created (an existing
 * one keeps its version). A check that cannot be made (no permission for
 * DescribeDBEngineVersions, an endpoint without it) is a warning: the database
 * step then says what RDS answers.
 */
async function checkNewDatabaseEngine(ctx: Context<CommissionOptions>): Promise<string[]> {
  const { rds } = ctx.clients;
  if (await findDatabase(rds, ctx.names.database)) return [];
  try {
    return await checkEngineVersion(rds, ctx.config.dbEngineVersion, ctx.region);
  } catch (error) {
    ctx.reporter.warn(`could not check db_engine_version "${ctx.config.dbEngineVersion}" (${errorCode(error) ?? 'error'}: ${(error as Error).message}): the database step will say if RDS refuses it`);
    return [];
  }
}

/** The sizes of a new environment's app servers (and of new workers) when no flag gives them. */
const NEW_ENVIRONMENT_SIZES = { minSize: 1, maxSize: 4 } as const;

/** Which options and config key set one tier's sizes and instance type, and the flags messages name. */
const TIER_FLAGS = {
  app: { min: 'minSize', max: 'maxSize', type: 'instanceType', minFlag: '--min-size', maxFlag: '--max-size', defaultType: 'appInstanceType' },
  worker: { min: 'workersMinSize', max: 'workersMaxSize', type: 'workerInstanceType', minFlag: '--workers-min-size', maxFlag: '--workers-max-size', defaultType: 'workerInstanceType' },
} as const satisfies Record<Tier, { min: keyof CommissionOptions; max: keyof CommissionOptions; type: keyof CommissionOptions; minFlag: string; maxFlag: string; defaultType: 'appInstanceType' | 'workerInstanceType' }>;

/**
 * The app servers' (or the workers') sizes and instance type for this run:
 * each flag given, else the group's current value, else (a new group, or its
 * template gone) the default or `app_instance_type` / `worker_instance_type`.
 * So a re-run changes only what was asked, and a config edit of the instance
 * type applies to new groups only (an existing one changes with the flag).
 * min ≤ max is checked on the resolved values: `--max-size 2` on a group with
 * min 3 is refused.
 */
async function resolveTierSettings(ctx: Context<CommissionOptions>, tier: Tier): Promise<AppServerSettings> {
  const flags = TIER_FLAGS[tier];
  const given = { minSize: ctx.options[flags.min], maxSize: ctx.options[flags.max], instanceType: ctx.options[flags.type] };
  const current = await findAppServerSettings(ctx.clients, ctx.names, tier);
  const minSize = given.minSize ?? current?.minSize ?? NEW_ENVIRONMENT_SIZES.minSize;
  const maxSize = given.maxSize ?? current?.maxSize ?? NEW_ENVIRONMENT_SIZES.maxSize;
  if (minSize > maxSize) {
    // Both flags given is caught with the other usage checks: here one of them is not.
    const source = current ? `${tier === 'worker' ? ctx.names.worker : ctx.names.appServers} has now` : `a new ${tier === 'worker' ? 'worker group' : 'environment'} gets`;
    throw usageError(
      given.minSize === undefined
        ? `${flags.maxFlag} (${maxSize}) must not be less than the min size (${minSize}) ${source}: pass ${flags.minFlag} too`
        : `${flags.minFlag} (${minSize}) must not be greater than the max size (${maxSize}) ${source}: pass ${flags.maxFlag} too`,
    );
  }
  return { minSize, maxSize, instanceType: given.instanceType ?? current?.instanceType ?? ctx.config[flags.defaultType] };
}

/**
 * What the steps (and the dry run's previews) start from: the default VPC, the
 * app servers' settings, and the subnets whose zones offer the app servers'
 * and the broker's instance types; a type no zone offers is a CONFIG error
 * here, before anything is created.
 */
async function findStartingState(ctx: Context<CommissionOptions>): Promise<CommissionState> {
  const { ec2 } = ctx.clients;
  const vpc = await findDefaultVpc(ec2, ctx.region);
  const appServers = await resolveTierSettings(ctx, 'app');
  const appSubnets = await findOfferedSubnets(ec2, vpc, appServers.instanceType, ctx.region, ctx.options.instanceType ? '--instance-type' : 'app_instance_type');
  const brokerSubnets = isBrokerWanted(ctx.options.withBroker, ctx.config.brokerEnabled)
    ? await findOfferedSubnets(ec2, vpc, ctx.config.brokerInstanceType, ctx.region, 'broker_instance_type')
    : undefined;
  const workerSettings = isWorkersWanted(ctx) ? await resolveTierSettings(ctx, 'worker') : undefined;
  const workerSubnets = workerSettings
    ? await findOfferedSubnets(ec2, vpc, workerSettings.instanceType, ctx.region, ctx.options.workerInstanceType ? '--worker-instance-type' : 'worker_instance_type')
    : undefined;
  // Read once, before any step: the release-image step runs at the same time as the app-servers step, which
  // may create the group or point it at another image, so a read there would depend on which came first.
  const liveImageId = await findLiveImageId(ctx.clients, ctx.names);
  return { bakeCleanup: [], vpc, appServers, appSubnets, brokerSubnets, workerSettings, workerSubnets, liveImageId };
}

/**
 * The release image a run reuses: the live one (the app servers' template
 * launches from it), else the newest available; with workers, only one that
 * holds the worker too. `undefined`: none yet.
 */
async function findReusableRelease(ctx: Context<CommissionOptions>, wantWorkers: boolean, liveImageId: string | undefined): Promise<ReleaseImage | undefined> {
  const all = await findReleaseImages(ctx.clients.ec2, ctx.names);
  const releases = all.filter((release) => release.state === 'available' && (!wantWorkers || release.hasWorker));
  return releases.find((release) => release.imageId === liveImageId) ?? releases[0];
}

/** A value an earlier step set; steps run in order, so a missing one is a bug in the list. */
function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('a commission step ran before the step it needs');
  return value;
}

/** The environment's security groups, for this run's config. */
function securityGroupsSpec(ctx: Context<CommissionOptions>, state: CommissionState): SecurityGroupsSpec {
  return { names: ctx.names, vpcId: need(state.vpc).vpcId, appPort: ctx.config.appPort, https: ctx.config.certificateArn !== undefined, workers: isWorkersWanted(ctx) };
}

/** What the worker tier is built from, for this run's config and options. */
function workersSpec(ctx: Context<CommissionOptions>, state: CommissionState, imageId: string): WorkersSpec {
  const { minSize, maxSize, instanceType } = need(state.workerSettings);
  return {
    names: ctx.names,
    imageId,
    instanceType,
    keyName: ctx.config.keyName,
    workerSecurityGroupId: state.groups?.worker ?? '',
    instanceSubnets: need(state.workerSubnets),
    rootVolumeSize: ctx.config.rootVolumeSize,
    minSize,
    maxSize,
    scalingTargetCpu: ctx.config.scalingTargetCpu,
  };
}

/** What the app tier is built from, for this run's config and options. */
function appServersSpec(ctx: Context<CommissionOptions>, state: CommissionState, imageId: string): AppServersSpec {
  const { names, config } = ctx;
  const groups = state.groups;
  const { minSize, maxSize, instanceType } = need(state.appServers);
  return {
    names,
    imageId,
    instanceType,
    keyName: config.keyName,
    appSecurityGroupId: groups?.app ?? '',
    elbSecurityGroupId: groups?.elb ?? '',
    subnets: need(state.vpc).subnets,
    instanceSubnets: need(state.appSubnets),
    appPort: config.appPort,
    healthCheckPath: config.healthCheckPath,
    certificateArn: config.certificateArn,
    rootVolumeSize: config.rootVolumeSize,
    minSize,
    maxSize,
    scalingTargetCpu: config.scalingTargetCpu,
    inspect: inspectAccess(ctx),
  };
}

/** What the database is created with, for this run's config and options. */
function databaseSpec(ctx: Context<CommissionOptions>, state: CommissionState): DatabaseSpec {
  const { names, config, options } = ctx;
  return {
    names,
    subnetIds: need(state.vpc).subnets.map((subnet) => subnet.subnetId),
    securityGroupId: need(state.groups).database,
    user: config.dbUser,
    password: config.dbPassword,
    instanceClass: options.dbInstanceType ?? config.dbInstanceType,
    requestedClass: options.dbInstanceType,
    applyNow: options.applyNow,
    allocatedStorage: config.dbAllocatedStorage,
    engineVersion: config.dbEngineVersion,
    multiAz: config.dbMultiAz,
    deletionProtection: config.dbDeletionProtection,
  };
}

/**
 * The steps of commission, in order: the security groups; then at the same
 * time the image (and the broker, which starts from it), the database and the
 * load balancer; then the app servers; then the bake instance's removal, and
 * the deploy's steps (or only the hosts file with `--no-deploy`).
 */
function commissionSteps(ctx: Context<CommissionOptions>): Step<CommissionState>[] {
  const { ec2, rds, elb } = ctx.clients;
  const { names, config, options } = ctx;
  const wantBroker = isBrokerWanted(options.withBroker, config.brokerEnabled);
  const wantWorkers = isWorkersWanted(ctx);
  return [
    {
      id: 'security-groups',
      title: 'security groups',
      preview: async (state) => {
        const plan = await planSecurityGroups(ec2, securityGroupsSpec(ctx, state));
        // The later previews compare launch settings by these ids.
        state.groups = plan.ids;
        return { actions: plan.actions, none: 'exist, unchanged' };
      },
      run: async (state, step) => {
        const result = await ensureSecurityGroups(ec2, securityGroupsSpec(ctx, state), progressOf(ctx, step));
        state.groups = result.ids;
        const created = result.created.length > 0;
        // The rules of new groups are part of creating them, not changes worth listing.
        return { skip: created ? undefined : 'exists', changes: created ? [] : result.changes, resource: `security groups ${Object.values(result.ids).join(', ')}` };
      },
    },
    {
      id: 'image',
      title: `image ${names.image}`,
      needs: ['security-groups'],
      preview: async () => {
        const image = await findImage(ec2, names);
        if (image?.state === 'available') return { actions: [], none: `exists (${image.imageId}), reused` };
        if (image?.state === 'pending') return { actions: [`wait for ${image.imageId}, being created by another run`] };
        return { actions: [`bake it from ${config.baseAmi} on a temporary ${config.imageInstanceType}`] };
      },
      run: async (state, step) => {
        const result = await ensureImage(ec2, names, () => prepareBake(ctx), progressOf(ctx, step));
        state.image = result.image;
        // The bake instance is removed while the next steps run: they need only the image.
        if (result.outcome === 'baked') state.bakeCleanup.push(result.cleanup);
        return { skip: result.outcome !== 'baked' ? 'exists' : undefined, resource: `image ${result.image.imageId}` };
      },
    },
    {
      id: 'broker',
      title: `broker ${names.broker}`,
      needs: ['image'],
      enabled: () => wantBroker,
      preview: async () => {
        const [broker] = await findBrokers(ec2, names);
        return broker ? { actions: [], none: `exists (${broker.instanceId}, ${broker.state})` } : { actions: [`launch a ${config.brokerInstanceType} from the image`] };
      },
      run: async (state, step) => {
        const result = await ensureBroker(
          ec2,
          { names, imageId: need(state.image).imageId, instanceType: config.brokerInstanceType, keyName: config.keyName, securityGroupId: need(state.groups).broker, subnetId: need(state.brokerSubnets)[0]?.subnetId, rootVolumeSize: config.rootVolumeSize },
          progressOf(ctx, step),
        );
        state.broker = result;
        return { skip: !result.created ? 'exists' : undefined, resource: `broker ${result.instanceId}` };
      },
    },
    {
      id: 'database',
      title: `database ${names.database}`,
      needs: ['security-groups'],
      preview: async () => {
        const database = ownedOrThrow(await lookupDatabase(rds, names.database, names), names);
        const instanceClass = options.dbInstanceType ?? config.dbInstanceType;
        if (!database) return { actions: [`create it (${instanceClass}, ${config.dbAllocatedStorage} GiB, PostgreSQL ${config.dbEngineVersion})`] };
        const change = diffInstanceClass(database, { requestedClass: options.dbInstanceType, applyNow: options.applyNow });
        return { actions: change?.modify ? [change.description] : [], none: `exists (${database.status})${change ? `; ${change.description}` : ''}` };
      },
      run: async (state, step) => {
        const result = await ensureDatabase(rds, databaseSpec(ctx, state), progressOf(ctx, step));
        state.database = result;
        return { skip: !result.created ? 'exists' : undefined, changes: result.changes, resource: `database ${result.identifier}` };
      },
    },
    {
      id: 'load-balancer',
      title: `load balancer ${names.loadBalancer}`,
      needs: ['security-groups'],
      preview: async (state) => {
        const actions = await planLoadBalancer(elb, appServersSpec(ctx, state, ''));
        return { actions, none: 'exists, unchanged' };
      },
      run: async (state, step) => {
        const result = await ensureLoadBalancer(elb, appServersSpec(ctx, state, ''), progressOf(ctx, step));
        state.loadBalancer = result;
        return { skip: !result.created ? 'exists' : undefined, changes: result.changes, resource: `load balancer ${result.name}` };
      },
    },
    {
      // The app on a temporary instance, imaged: what every instance launched later boots from. Made while
      // the app servers boot and the deploy configures them, so it is not on the way to serving.
      id: 'release-image',
      title: 'release image',
      needs: ['image', 'broker', 'database'],
      preview: async (state) => {
        const reuse = await findReusableRelease(ctx, wantWorkers, state.liveImageId);
        if (reuse) return { actions: [], none: `exists (${reuse.name}, ${reuse.imageId}), reused` };
        if (!options.deploy) return { actions: [], none: 'none yet (--no-deploy): the app servers launch from the base image until argos deploy makes one' };
        return { actions: [`build ${names.releasePrefix}<UTC time> on a temporary ${config.imageInstanceType} from the base image (site.yml as an app server) while the app servers are deployed to, then remove the instance`] };
      },
      run: async (state, step) => {
        const groupIds = need(state.groups);
        // Its own signal too: a failed in-place deploy stops it (its image would hold a release that did not deploy).
        state.stopRelease = new AbortController();
        const releaseCtx = { ...ctx, signal: AbortSignal.any([ctx.signal, state.stopRelease.signal]) };
        const result = await ensureReleaseImage(
          ec2,
          names,
          {
            liveImageId: state.liveImageId,
            // Workers launch from it too: a release made before workers existed lacks their service.
            needsWorker: wantWorkers,
            build: options.deploy ? () => prepareRelease(releaseCtx, { baseImageId: need(state.image).imageId, appSecurityGroupId: groupIds.app }) : undefined,
          },
          progressOf(releaseCtx, step),
        );
        state.release = result.release;
        state.bakeCleanup.push(result.cleanup);
        if (!result.release) return { skip: 'none yet (--no-deploy)' };
        step.note(`${result.release.name} (git ref ${result.release.gitRef})`);
        return { skip: result.outcome === 'built' ? undefined : 'exists', resource: `release image ${result.release.imageId}` };
      },
    },
    {
      id: 'app-servers',
      title: `app servers ${names.appServers}`,
      needs: ['image', 'load-balancer'],
      preview: async (state) => {
        // Without an image yet, the launch template cannot be compared: it will be new.
        const [image, release] = await Promise.all([findImage(ec2, names), findReusableRelease(ctx, wantWorkers, state.liveImageId)]);
        const actions = await planAppServers(ctx.clients, appServersSpec(ctx, state, release?.imageId ?? image?.imageId ?? ''));
        if (!release && options.deploy && actions.length > 0) actions.push('launch from the base image, health replacement suspended until the deploy has put the app on the instances');
        return { actions, none: 'exist, unchanged' };
      },
      run: async (state, step) => {
        // An existing release: its instances serve from boot. None yet: the base image, and the deploy configures them.
        const release = await findReusableRelease(ctx, wantWorkers, state.liveImageId);
        const imageId = release?.imageId ?? need(state.image).imageId;
        const result = await ensureAppServers(ctx.clients, appServersSpec(ctx, state, imageId), { ...progressOf(ctx, step), appOnInstances: release !== undefined });
        state.servers = result;
        state.appServersImageId = imageId;
        // A run killed while it had suspended them (the tag says so): resumed before anything else.
        if (!result.group.created) await resumeLeftovers(ctx);
        if (!release && options.deploy) {
          // Without the app they fail the load balancer's check, and once the grace period ends the group would
          // replace them, mid-deploy if the database or the playbooks take longer (Amazon EC2 Auto Scaling,
          // "Health checks for instances in an Auto Scaling group" and "Suspend and resume processes":
          // https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html,
          // https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html).
          state.suspendedUntilServing = await suspendHealthReplacement(ctx.clients.autoScaling, names.appServers);
          step.note('launched from the base image: health replacement suspended until the deploy has put the app on them');
          // The deploy finds its hosts among running instances.
          state.servers = { ...result, instanceIds: await waitForGroupInstancesRunning(ctx.clients, names.appServers, need(state.appServers).minSize, progressOf(ctx, step)) };
        }
        const changes = [...result.launchTemplate.changes, ...result.group.changes, ...result.scalingPolicy.changes];
        if (result.replacedInstanceIds.length > 0) changes.push(`replaced instances ${result.replacedInstanceIds.join(', ')}`);
        return { skip: !result.group.created ? 'exists' : undefined, changes, resource: `autoscaling group ${names.appServers} (${result.instanceIds.join(', ')})` };
      },
    },
    {
      // From the same release image as the app servers will use; their user data makes workers of them.
      id: 'workers',
      title: `workers ${names.worker}`,
      needs: ['release-image'],
      enabled: () => wantWorkers,
      preview: async (state) => {
        const [image, releases] = await Promise.all([findImage(ec2, names), findReleaseImages(ec2, names)]);
        const release = releases.find((candidate) => candidate.state === 'available' && candidate.hasWorker);
        return { actions: await planWorkers(ctx.clients, workersSpec(ctx, state, release?.imageId ?? image?.imageId ?? '')), none: 'exist, unchanged' };
      },
      run: async (state, step) => {
        const imageId = state.release?.imageId ?? need(state.image).imageId;
        const result = await ensureWorkers(ctx.clients, workersSpec(ctx, state, imageId), progressOf(ctx, step));
        state.workers = result;
        const changes = [...result.launchTemplate.changes, ...result.group.changes, ...result.scalingPolicy.changes];
        return { skip: !result.group.created ? 'exists' : undefined, changes, resource: `autoscaling group ${names.worker} (${result.instanceIds.join(', ')})` };
      },
    },
    // The deploy's playbooks need the database and the broker as well as the app servers (workers launch
    // from the release image and serve from boot). The release image is made at the same time by the
    // step above: the deploy does not make another.
    // While a new database is created: what the deploy can do without it (prepare-servers.ts).
    prepareServersStep<CommissionState>(ctx, { deploy: options.deploy }),
    // After it: its temporary SSH is closed before the deploy opens its own.
    ...deploySteps<CommissionState>(ctx, { roles: undefined, playbooks: options.deploy, after: ['app-servers', 'database', 'broker', PREPARE_SERVERS_STEP], releaseImage: false }),
    {
      id: 'in-service',
      title: 'wait for the app servers to serve',
      needs: ['playbooks'],
      enabled: () => options.deploy,
      preview: async () => ({ actions: [], none: 'waited for when the deploy configured instances launched from the base image' }),
      run: async (state, step) => {
        if (state.suspendedUntilServing === undefined) return { skip: 'they served from boot (release image)' };
        const servers = need(state.servers);
        const { minSize } = need(state.appServers);
        const spec = appServersSpec(ctx, state, '');
        const instanceIds = await waitForInService(
          ctx.clients.autoScaling,
          elb,
          { groupName: names.appServers, loadBalancerName: names.loadBalancer, count: minSize, healthCheckTarget: buildHealthCheck(spec).Target, inspect: spec.inspect },
          progressOf(ctx, step),
        );
        state.servers = { ...servers, instanceIds };
        await resumeHealthReplacement(ctx.clients.autoScaling, names.appServers, state.suspendedUntilServing);
        state.suspendedUntilServing = undefined;
        step.note(`${instanceIds.join(', ')} in service; health replacement resumed`);
        return {};
      },
    },
    {
      // Whatever happened: a group left with health replacement suspended would never replace a failed instance.
      id: 'resume-health',
      title: 'resume health replacement',
      needs: ['app-servers', 'in-service'],
      always: true,
      enabled: () => options.deploy,
      preview: async () => ({ actions: [], none: 'resumed as soon as the app servers serve' }),
      run: async (state) => {
        const suspended = state.suspendedUntilServing;
        if (!suspended?.length) return { skip: 'nothing suspended' };
        await resumeHealthReplacement(ctx.clients.autoScaling, names.appServers, suspended);
        state.suspendedUntilServing = undefined;
        return {};
      },
    },
    {
      id: 'release-live',
      title: 'point the app servers at the release image',
      needs: ['release-image', 'in-service'],
      enabled: () => options.deploy,
      preview: async () => ({ actions: [], none: 'once the app servers serve, when they were launched from another image' }),
      run: async (state, step) => {
        const release = state.release;
        if (!release) return { skip: 'no release image' };
        if (state.appServersImageId === release.imageId) return { skip: 'they launch from it' };
        // The instances the deploy configured keep serving; any launched meanwhile (not deployed to) are replaced.
        const deployed = (state.targets ?? []).map((host) => host.instanceId);
        const result = await pointAppServersAt(
          ctx.clients,
          { names, imageId: release.imageId, healthCheckTarget: buildHealthCheck(config).Target, keep: deployed, inspect: inspectAccess(ctx) },
          progressOf(ctx, step),
        );
        state.appServersImageId = release.imageId;
        const changes = [...result.changes];
        if (result.replacedInstanceIds.length > 0) changes.push(`replaced instances launched during the deploy: ${result.replacedInstanceIds.join(', ')}`);
        step.note(`instances launched from now on run ${release.name}`);
        return { changes, resource: `launch template ${result.launchTemplate.name}` };
      },
    },
    {
      // The deploy wrote the hosts file before the workers existed and before release-live replaced any
      // instance launched meanwhile: the file a user runs Ansible with must name what runs now.
      id: 'hosts-final',
      title: `bring hosts/hosts_${ctx.env} up to date`,
      needs: ['hosts', 'workers', 'release-live'],
      preview: async () => ({ actions: [], none: 'rewritten when the instances changed since the deploy wrote it (workers, release image)' }),
      run: async (state) => {
        const { inventory, changed } = await refreshHostsFile(ctx);
        if (!changed) return { skip: 'up to date' };
        state.inventory = inventory;
        return { changes: [summarizeInventory(inventory)] };
      },
    },
    {
      id: 'remove-bake',
      title: 'remove the temporary instances (image bake, release build)',
      needs: ['release-image', 'workers', 'release-live'],
      preview: async () => ({ actions: [], none: 'removed right after a bake or a release build, if one runs' }),
      run: async (state) => {
        if (state.bakeCleanup.length === 0) return { skip: 'nothing to remove' };
        try {
          await Promise.all(state.bakeCleanup);
        } catch (error) {
          throw new ArgosError('FAILED', `the image is ready, but removing its temporary instance failed (${(error as Error).message}): run argos ${ctx.env} clean --dry-run to see what is left`, { cause: error });
        }
        return {};
      },
    },
  ];
}
