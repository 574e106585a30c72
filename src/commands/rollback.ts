/**
 * `argos <env> rollback [--to <release>]`: points the app servers' launch
 * template at the previous release image (the one made before the live one),
 * or the named one, and replaces the app servers with the group's surge
 * replacement: new instances from that release come into service before the
 * old ones are terminated, so never fewer serve than before
 * (autoscaling/replace-instances.ts). No Ansible run: the image holds the app.
 */
import { buildHealthCheck, pointAppServersAt } from '../autoscaling.js';
import { confirmOrExit } from '../confirm.js';
import { progressOf, type Context } from '../context.js';
import { ArgosError } from '../errors.js';
import type { RollbackOptions } from '../options.js';
import { findLiveImageId, findReleaseImages, type ReleaseImage } from '../release.js';
import { inspectAccess } from './connection.js';
import { previewSteps, renderPreview, runSteps, type Step, stepHostOf } from './steps.js';

/** What a rollback goes to, and from. */
export interface RollbackTarget {
  release: ReleaseImage;
  /** The live release (undefined when the group launches from an image that is not one of the releases). */
  live: ReleaseImage | undefined;
}

/** `name (ami-…, git ref …)` as messages name a release. */
function describeRelease(release: ReleaseImage): string {
  return `${release.name} (${release.imageId}, git ref ${release.gitRef})`;
}

/**
 * The release to roll back to: the one named by `to` (its name or AMI id),
 * else the newest available release older than the live one. A clear error
 * when there is none, when `to` names no release of the environment, or
 * names the live one.
 */
export function selectRollbackTarget(env: string, releases: readonly ReleaseImage[], liveImageId: string | undefined, to: string | undefined): RollbackTarget {
  const live = releases.find((release) => release.imageId === liveImageId);
  const available = releases.filter((release) => release.state === 'available');
  const listed = available.length > 0 ? available.map((release) => `${release.name}${release === live ? ' (live)' : ''}`).join(', ') : 'none';
  if (to !== undefined) {
    const named = releases.find((release) => release.name === to || release.imageId === to);
    if (!named || named.state !== 'available') {
      throw new ArgosError('CONFIG', `${to} is not an available release image of ${env} (${named ? named.state : 'not found'}); its release images: ${listed}`);
    }
    if (named === live) throw new ArgosError('CONFIG', `${describeRelease(named)} is already live in ${env}: nothing to roll back to`);
    return { release: named, live };
  }
  // Releases are newest first: the previous one is the first available after the live one.
  const liveIndex = live ? releases.indexOf(live) : -1;
  const previous = live ? available.find((release) => releases.indexOf(release) > liveIndex) : undefined;
  if (!previous) {
    const why = live ? `${live.name} is live and no older release image is kept` : 'the app servers do not launch from a release image';
    throw new ArgosError('FAILED', `no previous release of ${env} to roll back to: ${why} (release images: ${listed}). Deploy the git ref you want instead, or name one with --to`);
  }
  return { release: previous, live };
}

interface RollbackState {
  target?: RollbackTarget;
  replaced?: string[];
}

function rollbackSteps(ctx: Context<RollbackOptions>): Step<RollbackState>[] {
  const { names, config } = ctx;
  return [
    {
      id: 'rollback',
      title: 'point the app servers at the release and replace them',
      preview: async (state) => {
        const target = state.target;
        if (!target) throw new Error('rollback previewed before its target was chosen');
        return {
          actions: [
            `point the launch template of ${names.appServers} at ${describeRelease(target.release)}${target.live ? `, from ${target.live.name}` : ''}`,
            'replace every app server (new ones in service first, then the old ones terminated)',
          ],
        };
      },
      run: async (state, step) => {
        const target = state.target;
        if (!target) throw new Error('rollback ran before its target was chosen');
        const result = await pointAppServersAt(ctx.clients, { names, imageId: target.release.imageId, healthCheckTarget: buildHealthCheck(config).Target, inspect: inspectAccess(ctx) }, progressOf(ctx, step));
        state.replaced = result.replacedInstanceIds;
        return { changes: [...result.changes, ...(result.replacedInstanceIds.length > 0 ? [`replaced ${result.replacedInstanceIds.join(', ')}`] : [])] };
      },
    },
  ];
}

/** Runs `argos <env> rollback`. */
export async function rollback(ctx: Context<RollbackOptions>): Promise<void> {
  const { reporter, options, clients, names } = ctx;
  const [releases, liveImageId] = await Promise.all([findReleaseImages(clients.ec2, names), findLiveImageId(clients, names)]);
  if (liveImageId === undefined) throw new ArgosError('FAILED', `${ctx.env} has no app servers: run argos ${ctx.env} commission first`);
  const state: RollbackState = { target: selectRollbackTarget(ctx.env, releases, liveImageId, options.to) };
  const steps = rollbackSteps(ctx);
  reporter.info(`plan for ${ctx.env}:\n${renderPreview(await previewSteps(steps, state))}`);
  if (options.dryRun) {
    reporter.info('dry run: nothing was changed');
    return;
  }
  const release = state.target?.release;
  await confirmOrExit(reporter, `Roll ${ctx.env} back to ${release ? describeRelease(release) : '?'} and replace its app servers?`, {
    yes: options.yes,
    action: `rollback ${ctx.env}`,
    signal: ctx.signal,
  });
  try {
    await runSteps(steps, state, stepHostOf(ctx));
  } catch (error) {
    reporter.info(`${ctx.signal.aborted ? 'interrupted' : 'stopped'}: the app servers still serve (old ones go only once new ones are in service). Run the rollback again to finish it`);
    throw error;
  }
  reporter.info(`${ctx.env} runs ${release ? describeRelease(release) : '?'}; replaced ${state.replaced?.length ?? 0} app server(s).`);
}
