/**
 * `argos <env> deploy`: refresh `hosts/hosts_<env>` from what runs on AWS, open
 * SSH to the caller for the hosts' groups, run the playbooks in one
 * `ansible-playbook`, and close SSH again whatever happens. Its steps are also
 * the last steps of `commission`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  putBackInRotation,
  readNotInService,
  registerInstances,
  restoreLeftoverRotation,
  resumeHealthReplacement,
  resumeLeftoverSuspension,
  suspendHealthReplacement,
  takeOutOfRotation,
} from '../autoscaling/rotation.js';
import { DEFAULT_BATCH, type BatchSize } from '../batch-size.js';
import { ROLES, type RoleName } from '../command-names.js';
import { progressOf, type Context } from '../context.js';
import { ArgosError, usageError } from '../errors.js';
import { allHosts, discoverInventory, hostKeyAlias, pruneKnownHosts, renderInventory, summarizeInventory, writeFileAtomic, type Inventory, type InventoryGroup, type InventoryHost } from '../hosts.js';
import { checkKeyFile } from '../keys.js';
import type { DeployOptions } from '../options.js';
import { buildHealthCheck, describeHealthAdvice, findAppServerLaunchData, pointAppServersAt, pointWorkersAt } from '../autoscaling.js';
import { findImage } from '../image.js';
import { buildReleaseImage, findLiveImageId, findReleaseImages, pruneReleaseImages, type BuildReleaseResult } from '../release.js';
import { closeSsh, openSsh } from '../security.js';
import { prepareRelease } from './prepare-release.js';
import { findSshConfigProblem, inspectAccess, sshSettings, withPlaybookVars } from './connection.js';
import { readRotationSettings, runRollingDeploy } from './rolling-deploy.js';
import { runSteps, type Step, stepHostOf } from './steps.js';

/** Which inventory group each role's playbook runs on. */
const ROLE_GROUPS: Record<RoleName, InventoryGroup> = { app: 'appservers', database: 'appservers', broker: 'brokers', worker: 'workers' };

/** The order of playbooks/site.yml: the broker first, then app servers, the database (from an app server), workers. */
const SITE_ORDER: readonly RoleName[] = ['broker', 'app', 'database', 'worker'];

/** What the deploy steps find and hand on to one another. */
export interface DeployState {
  inventory?: Inventory;
  roles?: RoleName[];
  /** The hosts the selected roles run on. */
  targets?: InventoryHost[];
  /** The security groups temporary SSH was opened on (closed again by the last step). */
  sshGroupIds?: string[];
  /** The CIDR temporary SSH admits (named when SSH seems to come from elsewhere). */
  sshCidr?: string;
  /** The release image this deploy made (deploy without `--no-release-image`). */
  newRelease?: BuildReleaseResult;
  /** Stops the release build when the in-place deploy fails: its image would hold a release that did not deploy. */
  stopRelease?: AbortController;
}

/** Runs `work`; when it fails, stops the release build under way (if any) before rethrowing. */
async function stoppingReleaseOnFailure<T>(state: DeployState, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    state.stopRelease?.abort(new ArgosError('INTERRUPTED', `stopped: the deploy failed (${(error as Error).message})`));
    throw error;
  }
}

/** Runs `argos <env> deploy`. */
export async function deploy(ctx: Context<DeployOptions>): Promise<void> {
  const sshConfigProblem = await findSshConfigProblem(ctx);
  if (sshConfigProblem) throw new ArgosError('CONFIG', sshConfigProblem);
  if (ctx.options.allAtOnce && ctx.options.batch !== undefined) throw usageError('--all-at-once and --batch contradict each other: give one');
  const rolling = ctx.options.allAtOnce ? undefined : { batch: ctx.options.batch ?? DEFAULT_BATCH };
  const releaseImage = ctx.options.releaseImage && (ctx.options.roles === undefined || ctx.options.roles.includes('app'));
  if (!ctx.options.releaseImage) {
    const live = await findLiveImageId(ctx.clients, ctx.names);
    const release = (await findReleaseImages(ctx.clients.ec2, ctx.names)).find((candidate) => candidate.imageId === live);
    ctx.reporter.warn(
      `--no-release-image: instances launched later (scale-out, replacements) run the previous release${release ? ` ${release.name} (git ref ${release.gitRef})` : ' (none: the base image, without the app)'}, not this deploy`,
    );
  }
  await resumeLeftovers(ctx);
  const state: DeployState = {};
  try {
    await runSteps(deploySteps(ctx, { roles: ctx.options.roles, playbooks: true, releaseImage, rolling, full: ctx.options.full }), state, stepHostOf(ctx));
  } finally {
    // The release build's temporary instance is removed on its own signal; the run ends once it is gone.
    await state.newRelease?.cleanup.catch(() => undefined);
  }
}

/**
 * Resumes the app servers' health replacement that a run killed while it had
 * suspended it left behind (the group's tag says so), with a warning. Call it
 * holding the environment's lock (the run does), before suspending anything.
 */
export async function resumeLeftovers(ctx: Context): Promise<void> {
  const leftover = await resumeLeftoverSuspension(ctx.clients.autoScaling, ctx.names.appServers);
  if (leftover.length > 0) ctx.reporter.warn(`resumed ${leftover.join(', ')} on ${ctx.names.appServers}: an argos run that did not finish had left them suspended`);
}

/** Finds the environment's hosts by tag and writes `hosts/hosts_<env>` (only when its text changes); the inventory, and whether it changed. */
export async function refreshHostsFile(ctx: Context): Promise<{ inventory: Inventory; changed: boolean }> {
  const inventory = await discoverInventory(ctx.clients, ctx.names, { user: ctx.config.remoteUser, keyFile: ctx.paths.keyFile });
  const text = renderInventory(inventory);
  const changed = text !== (await readFile(ctx.paths.hostsFile, 'utf8').catch(() => undefined));
  if (changed) await writeFileAtomic(ctx.paths.hostsFile, text);
  return { inventory, changed };
}

/** The roles to run: those asked for (each must have hosts), else every role that has hosts. */
export function selectRoles(inventory: Inventory, requested: readonly RoleName[] | undefined, env: string): RoleName[] {
  const hasHosts = (role: RoleName) =>
    inventory.groups[ROLE_GROUPS[role]].length > 0 && (role !== 'database' || inventory.vars.db_host !== undefined);
  if (requested === undefined) return SITE_ORDER.filter(hasHosts);
  const empty = requested.filter((role) => !hasHosts(role));
  if (empty.length > 0) {
    throw new ArgosError(
      'FAILED',
      `no hosts for role ${empty.join(', ')} in ${env} (${summarizeInventory(inventory)}): commission it first${empty.includes('broker') ? ' (with --with-broker)' : ''}, or leave it out of --roles`,
    );
  }
  return SITE_ORDER.filter((role) => requested.includes(role));
}

/** What {@link deploySteps} covers. */
export interface DeployScope {
  /** The roles asked for; undefined: every role that has hosts. */
  roles: readonly RoleName[] | undefined;
  /** False: only write the hosts file (`commission --no-deploy`). */
  playbooks: boolean;
  /** The steps the first deploy step waits for, when part of a longer list. */
  after?: readonly string[];
  /**
   * Also make a release image (at the same time as the in-place deploy) and
   * point the app servers' launch template at it once both are done.
   */
  releaseImage: boolean;
  /** Update the app servers batch after batch out of the load balancer; undefined: all at once, in service. */
  rolling?: { batch: BatchSize } | undefined;
  /** Run every task on every app server, even those the converged check finds as wanted (`deploy --full`). */
  full?: boolean;
}

/**
 * The deploy as steps: write the hosts file; then, when running the playbooks,
 * open temporary SSH, wait for SSH on the hosts, run the playbooks, and close
 * the SSH access again — on success, failure and Ctrl-C (an `always` step).
 * With `releaseImage`, a release image is built meanwhile on a temporary
 * instance, and once it and the playbooks are done the launch template points
 * at it: instances launched while the deploy ran (not deployed to) are
 * replaced, and release images beyond `release_images_kept` are deleted.
 */
export function deploySteps<S extends DeployState>(ctx: Context, scope: DeployScope): Step<S>[] {
  const { reporter, clients } = ctx;
  const ssh = sshSettings(ctx);
  const enabled = () => scope.playbooks;
  // The playbooks start while the SSH wait logs in (playbooks/gate.yml holds them): settled by the wait.
  const sshReady = createSshReady();
  const need = <T>(value: T | undefined): T => {
    // Steps run in order: a missing value means a step ran before the one that sets it.
    if (value === undefined) throw new Error('deploy step ran before the hosts were found');
    return value;
  };
  return [
    {
      id: 'hosts',
      title: `find the hosts of ${ctx.env} and write hosts/hosts_${ctx.env}`,
      ...(scope.after ? { needs: scope.after } : {}),
      preview: async () => ({ actions: [`rewrite hosts/hosts_${ctx.env} from the instances found by tag`] }),
      run: async (state, step) => {
        const { inventory } = await refreshHostsFile(ctx);
        step.note(summarizeInventory(inventory));
        state.inventory = inventory;
        const restored = await restoreLeftoverRotation(clients, inventory.groups.appservers, ctx.names.loadBalancer);
        if (restored.length > 0) {
          reporter.warn(`registered ${restored.join(', ')} with ${ctx.names.loadBalancer} again: a rolling deploy that did not finish had taken them out (its health check decides when they serve)`);
        }
        return {};
      },
    },
    {
      id: 'open-ssh',
      title: 'open temporary SSH to your address',
      needs: ['hosts'],
      enabled,
      preview: async () => ({ actions: ['allow SSH from your address alone (a /32) on the hosts\' security groups, until the run ends'] }),
      run: async (state, step) => {
        const inventory = need(state.inventory);
        const hosts = allHosts(inventory);
        if (hosts.length === 0) throw new ArgosError('FAILED', `no instances found for ${ctx.env}: run \`argos ${ctx.env} commission\` first`);
        reporter.info(`hosts: ${summarizeInventory(inventory)}`);
        state.roles = selectRoles(inventory, scope.roles, ctx.env);
        state.targets = [...new Set(state.roles.map((role) => ROLE_GROUPS[role]))].flatMap((group) => inventory.groups[group]);
        const problems = await checkKeyFile(ctx.paths.keyFile, ctx.paths.root);
        if (problems.length > 0) throw new ArgosError('CONFIG', problems.join('; '));
        await ctx.runtime.findAnsiblePlaybook();
        const cidr = await ctx.runtime.resolveSshCidr(ctx.sshCidr, { signal: ctx.signal });
        const groupIds = [...new Set(state.targets.flatMap((host) => host.securityGroupIds))].sort();
        // Recorded before opening: a failure half-way must still close what was opened.
        state.sshGroupIds = groupIds;
        state.sshCidr = cidr;
        step.note(`from ${cidr} on ${groupIds.join(', ')}`);
        await stoppingReleaseOnFailure(state, async () => {
          for (const groupId of groupIds) await openSsh(clients.ec2, groupId, cidr);
        });
        return {};
      },
    },
    {
      id: 'wait-ssh',
      title: 'wait for SSH on the hosts',
      enabled,
      preview: async () => ({ actions: ['wait until every host answers on SSH'] }),
      run: async (state, step) => {
        // Every way out settles the gate: the playbooks, already started, wait for it.
        try {
          const inventory = need(state.inventory);
          const dropped = await pruneKnownHosts(ctx.paths.knownHostsFile, allHosts(inventory).map(hostKeyAlias));
          if (dropped.length > 0) reporter.info(`forgot the host keys of hosts no longer in ${ctx.env}: ${dropped.join(', ')}`);
          const targets = need(state.targets);
          step.note(`${targets.length} host${targets.length === 1 ? '' : 's'}`);
          await stoppingReleaseOnFailure(state, () =>
            Promise.all(targets.map((host) => ctx.runtime.waitForSsh(host.address, ssh, progressOf(ctx, step, `${host.address}: `), { hostKeyAlias: hostKeyAlias(host), openedFrom: state.sshCidr }))),
          );
        } catch (error) {
          sshReady.fail(error);
          throw error;
        }
        sshReady.open();
        return {};
      },
    },
    {
      id: 'playbooks',
      title: 'run the playbooks',
      // Not after the SSH wait: with it. ansible-playbook starts at once and its first
      // task waits for the wait's logins (the gate), so its start-up and the logins overlap.
      needs: ['open-ssh'],
      enabled,
      preview: async () => ({ actions: [scope.roles ? `run the playbooks of ${scope.roles.join(', ')}` : 'run playbooks/site.yml: every role that has hosts'] }),
      run: async (state, step) => {
        const roles = need(state.roles);
        const everything = ROLES.every((role) => roles.includes(role)) || scope.roles === undefined;
        const playbooks = everything ? ['site.yml'] : roles.map((role) => `${role}.yml`);
        step.note(`${playbooks.join(' ')} (${roles.join(', ')})`);
        const inventory = need(state.inventory);
        const appServers = roles.includes('app') ? inventory.groups.appservers : [];
        await stoppingReleaseOnFailure(state, () =>
          withPlaybookVars(ctx, async (varsFiles) => {
            const runPlaybooks = (names: readonly string[], limit?: readonly string[], extraVars: Record<string, string> = {}) =>
              ctx.runtime.runPlaybook({
                playbooks: names.map((name) => join(ctx.paths.playbooks, name)),
                inventory: ctx.paths.hostsFile,
                ssh,
                varsFiles,
                // playbooks/roles/converged: false runs every task on every app server.
                extraVars: { ...extraVars, ...(scope.full ? { converged_enabled: false } : {}) },
                limit: limit?.join(','),
                forks: Math.max(5, allHosts(inventory).length),
                verbose: ctx.options.verbose,
                signal: ctx.signal,
                onLine: (line) => reporter.detail(line),
                // Only a run that starts before the wait has ended needs the gate (the first).
                ...(sshReady.isOpen ? {} : { gate: { playbook: join(ctx.paths.playbooks, 'gate.yml'), opened: sshReady.opened } }),
              });
            const settings = scope.rolling && appServers.length >= 2 ? await readRotationSettings(clients.elb, ctx.names.loadBalancer) : undefined;
            if (!scope.rolling || !settings) {
              if (scope.rolling && appServers.length === 1) step.note('one app server: updated in service (requests fail while it restarts; two or more make deploys rolling)');
              await runPlaybooks(playbooks);
              return;
            }
            // Without the check (`--full`) a batch leaves the load balancer before its first run:
            // not before every host answered SSH.
            if (scope.full) await sshReady.opened.catch(() => Promise.reject(new ArgosError('INTERRUPTED', 'not run: the SSH wait did not succeed')));
            const progress = progressOf(ctx, step);
            const group = ctx.names.appServers;
            const loadBalancerName = ctx.names.loadBalancer;
            await runRollingDeploy(
              {
                appServers,
                otherHosts: allHosts(inventory).filter((host) => !appServers.includes(host)),
                firstPlaybooks: playbooks,
                laterPlaybooks: ['app.yml'],
                batch: scope.rolling.batch,
                notServing: await readNotInService(clients.elb, loadBalancerName),
                advice: `The other app servers serve the previous release: fix the cause and run argos ${ctx.env} deploy again, or go back with argos ${ctx.env} rollback.`,
              },
              {
                suspend: () => suspendHealthReplacement(clients.autoScaling, group),
                resume: (processes) => resumeHealthReplacement(clients.autoScaling, group, processes),
                takeOut: (ids) => takeOutOfRotation(clients, { loadBalancerName, instanceIds: ids }, settings.drainingTimeoutSeconds, progress),
                putBack: (ids) =>
                  putBackInRotation(
                    clients,
                    { loadBalancerName, instanceIds: ids, healthCheckTarget: settings.healthCheckTarget, advice: describeHealthAdvice(ids, settings.healthCheckTarget, inspectAccess(ctx)) },
                    { ...progress, timeoutMs: settings.putBackTimeoutMs },
                  ),
                register: (ids) => registerInstances(clients, loadBalancerName, ids),
                runPlaybooks: (names, limit) => runPlaybooks(names, limit),
                ...(scope.full ? {} : { findUpToDate: (hosts: readonly InventoryHost[]) => findUpToDate(hosts, (limit, report) => runPlaybooks(['check.yml'], limit, { converged_report: report }), (line) => step.note(line)) }),
                note: (line) => step.note(line),
              },
            );
          }),
        );
        return {};
      },
    },
    {
      id: 'close-ssh',
      title: 'close temporary SSH access',
      enabled,
      // Closed even when the run failed or was interrupted: the rule must not outlive the run.
      needs: ['open-ssh', 'wait-ssh', 'playbooks'],
      always: true,
      preview: async () => ({ actions: ['close the SSH connections kept open to the hosts', 'revoke the temporary SSH rules'] }),
      run: async (state) => {
        // First the kept connections: the rule's revocation would not cut them (security groups are stateful).
        await ctx.runtime.closeSshMasters((state.targets ?? []).map((host) => host.address), ssh);
        const groupIds = state.sshGroupIds ?? [];
        if (groupIds.length === 0) return { skip: 'nothing was opened' };
        for (const groupId of groupIds) await closeSsh(clients.ec2, groupId);
        return {};
      },
    },
    ...releaseSteps<S>(ctx, () => scope.playbooks && scope.releaseImage),
  ];
}

/**
 * The release image of a deploy: built from the base image while the
 * playbooks run in place, then made live (the launch template), then the old
 * ones beyond `release_images_kept` deleted.
 */
function releaseSteps<S extends DeployState>(ctx: Context, enabled: () => boolean): Step<S>[] {
  const { clients, names, config } = ctx;
  return [
    {
      id: 'release-image',
      title: 'release image',
      needs: ['hosts'],
      enabled,
      preview: async () => ({ actions: [`build ${names.releasePrefix}<UTC time> (git ref ${config.gitRef}) on a temporary ${config.imageInstanceType} while the playbooks run`] }),
      run: async (state, step) => {
        const base = await findImage(clients.ec2, names);
        const appServers = await findAppServerLaunchData(clients, names);
        const appSecurityGroupId = appServers?.SecurityGroupIds?.[0];
        if (base?.state !== 'available' || !appSecurityGroupId) {
          throw new ArgosError('FAILED', `${ctx.env} has no base image or app servers to make a release image from: run argos ${ctx.env} commission first`);
        }
        // Its own signal too: a failed in-place deploy stops it (stoppingReleaseOnFailure), as Ctrl-C does.
        state.stopRelease = new AbortController();
        const releaseCtx = { ...ctx, signal: AbortSignal.any([ctx.signal, state.stopRelease.signal]) };
        const build = await prepareRelease(releaseCtx, { baseImageId: base.imageId, appSecurityGroupId });
        const result = await buildReleaseImage(clients.ec2, names, build, progressOf(releaseCtx, step));
        state.newRelease = result;
        step.note(`${result.release.name} (${result.release.imageId})`);
        return { resource: `release image ${result.release.imageId}` };
      },
    },
    {
      id: 'release-live',
      title: 'point the app servers at the new release',
      needs: ['release-image', 'playbooks'],
      enabled,
      preview: async () => ({ actions: ['point the launch templates (app servers, workers) at the new release image; replace app servers launched during the deploy; keep the newest release images'] }),
      run: async (state, step) => {
        const release = state.newRelease?.release;
        if (!release) throw new Error('release-live ran before release-image');
        const deployed = (state.targets ?? []).map((host) => host.instanceId);
        const result = await pointAppServersAt(
          clients,
          { names, imageId: release.imageId, healthCheckTarget: buildHealthCheck(config).Target, keep: deployed, inspect: inspectAccess(ctx) },
          progressOf(ctx, step),
        );
        // Workers launched from now on run this release too; running ones got it from the playbooks.
        const workers = await pointWorkersAt(clients, { names, imageId: release.imageId }, progressOf(ctx, step));
        const deleted = await pruneReleaseImages(clients, names, config.releaseImagesKept);
        const changes = [...result.changes];
        if (workers?.created) changes.push(`workers launch from ${workers.name}`);
        if (result.replacedInstanceIds.length > 0) changes.push(`replaced instances launched during the deploy: ${result.replacedInstanceIds.join(', ')}`);
        if (deleted.length > 0) changes.push(`deleted old release images ${deleted.join(', ')}`);
        step.note(`${release.name} is live`);
        return { changes, resource: `launch template ${result.launchTemplate.name}` };
      },
    },
  ];
}

/**
 * The app servers a deploy would not change, by instance id: playbooks/check.yml runs the
 * converged check alone on `hosts` and writes what it found to a file. A check that fails
 * (an unreachable server, say) finds none: every server is then updated, as without it. An
 * interruption is rethrown.
 */
export async function findUpToDate(
  hosts: readonly InventoryHost[],
  runCheck: (limit: readonly string[], reportFile: string) => Promise<void>,
  note: (line: string) => void,
): Promise<ReadonlySet<string>> {
  const dir = await mkdtemp(join(tmpdir(), 'argos-check-'));
  try {
    const report = join(dir, 'converged.json');
    await runCheck(hosts.map((host) => host.address), report);
    const paths = JSON.parse(await readFile(report, 'utf8')) as Record<string, unknown>;
    return new Set(hosts.filter((host) => paths[host.address] === 'none').map((host) => host.instanceId));
  } catch (error) {
    // Ctrl-C during the check ends the deploy, as anywhere else; only a failed check falls back.
    if (error instanceof ArgosError && error.code === 'INTERRUPTED') throw error;
    note(`could not tell which app servers are already up to date (${(error as Error).message.split('\n')[0]}): updating every one`);
    return new Set();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The SSH wait's outcome, for the playbooks that start before it ends. */
interface SshReady {
  /** Resolves when every host answered SSH; rejects when the wait failed. */
  readonly opened: Promise<void>;
  /** Whether it resolved. */
  readonly isOpen: boolean;
  open(): void;
  fail(reason: unknown): void;
}

/** An unsettled {@link SshReady}. */
function createSshReady(): SshReady {
  let resolve: () => void = () => undefined;
  let reject: (reason: unknown) => void = () => undefined;
  const opened = new Promise<void>((onOpen, onFail) => {
    resolve = onOpen;
    reject = onFail;
  });
  // Nobody may await it (no playbooks in this run): a failed wait is reported by its own step.
  opened.catch(() => undefined);
  let isOpen = false;
  return {
    opened,
    get isOpen() {
      return isOpen;
    },
    open: () => {
      isOpen = true;
      resolve();
    },
    fail: (reason) => reject(reason),
  };
}
