/**
 * `argos <env> clean`: delete the base image, its snapshots and any leftover
 * image-bake instance or security group, after a confirmation. The image is
 * shared by every environment of the app: while a launch template (of any
 * environment) launches from it, clean refuses unless `--force`. With
 * `--final-snapshots <days>` it deletes old final DB snapshots instead (never by default).
 */
import { describeImageUser, findImageUsers, type ImageUser } from '../autoscaling.js';
import { confirmOrExit } from '../confirm.js';
import { progressOf, type Context } from '../context.js';
import { deleteFinalSnapshot, describeSnapshotSize, findFinalSnapshots, type FinalSnapshot } from '../database.js';
import { ArgosError } from '../errors.js';
import type { CleanOptions } from '../options.js';
import { deleteImage, findBakeLeftovers, findImage, type ImageInfo } from '../image.js';
import type { EnvNames } from '../names.js';
import { previewSteps, runSteps, type Step, stepHostOf } from './steps.js';

/** What clean's preview found and its prompt says. */
interface CleanState {
  users?: ImageUser[];
  /** With --final-snapshots: the final snapshots to delete. */
  oldSnapshots?: FinalSnapshot[];
}

/**
 * The final snapshots `--final-snapshots <days>` deletes: those taken more than
 * `days` days before `now`, except the newest of each environment (it may be
 * the only copy of a decommissioned environment's data; delete it with the AWS
 * console or CLI if it is really not wanted). `snapshots` come newest first.
 */
function selectOldSnapshots(snapshots: readonly FinalSnapshot[], days: number, now: Date): FinalSnapshot[] {
  const newest = new Set<string>();
  return snapshots.filter((snapshot) => {
    if (!newest.has(snapshot.env)) {
      newest.add(snapshot.env);
      return false;
    }
    return snapshot.created !== undefined && now.getTime() - snapshot.created.getTime() > days * 86_400_000;
  });
}

/**
 * The refusal to delete an image that launch templates still use, naming them
 * and what to do instead (`instead`: e.g. "run argos staging clean --force").
 */
export function imageInUseError(names: EnvNames, image: ImageInfo, users: ImageUser[], instead: string): ArgosError {
  const envs = [...new Set(users.map((user) => user.env ?? '?'))].sort().join(', ');
  return new ArgosError(
    'FAILED',
    `the image ${names.image} (${image.imageId}) is shared by every environment of ${names.app} and ${users.length === 1 ? 'a launch template uses' : `${users.length} launch templates use`} it ` +
      `(environments: ${envs}): ${users.map(describeImageUser).join(', ')}. Deleting it would leave their autoscaling groups unable to launch instances: ` +
      `decommission those environments first, or ${instead}`,
  );
}

/**
 * The steps of clean: the image (and bake leftovers), or with `--final-snapshots`
 * the old final snapshots instead. Their previews are what the prompt lists, their runs delete.
 */
function cleanSteps(ctx: Context<CleanOptions>, now = new Date()): Step<CleanState>[] {
  const { ec2, rds } = ctx.clients;
  const { names } = ctx;
  const days = ctx.options.finalSnapshots;
  return [
    {
      id: 'final-snapshots',
      title: `delete final snapshots of ${names.app} older than ${days ?? '?'} days`,
      enabled: () => days !== undefined,
      needs: [],
      preview: async (state) => {
        const all = await findFinalSnapshots(rds, names.app);
        state.oldSnapshots = selectOldSnapshots(all, days ?? 0, now);
        const deleted = new Set(state.oldSnapshots.map((snapshot) => snapshot.identifier));
        return {
          actions: state.oldSnapshots.map((snapshot) => `final snapshot ${snapshot.identifier} of ${snapshot.env} (${describeSnapshotSize(snapshot)})`),
          keeps: all.filter((snapshot) => !deleted.has(snapshot.identifier)).map((snapshot) => `final snapshot ${snapshot.identifier} of ${snapshot.env} (${describeSnapshotSize(snapshot)})`),
        };
      },
      run: async (state, step) => {
        const old = state.oldSnapshots ?? [];
        for (const snapshot of old) await deleteFinalSnapshot(rds, snapshot.identifier);
        step.note(old.map((snapshot) => snapshot.identifier).join(', '));
        return { skip: old.length === 0 ? 'nothing to delete' : undefined };
      },
    },
    {
      id: 'image',
      title: `delete ${names.image}`,
      enabled: () => days === undefined,
      needs: [],
      preview: async (state) => {
        const [image, leftovers] = await Promise.all([findImage(ec2, names), findBakeLeftovers(ec2, names)]);
        state.users = image ? await findImageUsers(ec2, image.imageId) : [];
        if (image && state.users.length > 0 && !ctx.options.force) throw imageInUseError(names, image, state.users, `run argos ${ctx.env} clean --force to delete it anyway`);
        return {
          actions: [
            ...(image ? [`image ${names.image} (${image.imageId}) and its snapshots ${image.snapshotIds.join(', ') || '(none)'}`] : []),
            ...leftovers.instanceIds.map((id) => `bake instance ${id}`),
            ...leftovers.securityGroupIds.map((id) => `bake security group ${names.imageSecurityGroup} (${id})`),
          ],
          keeps: state.users.map((user) => `launch template ${describeImageUser(user)}, which then cannot launch instances (--force)`),
        };
      },
      run: async (_state, step) => {
        const result = await deleteImage(ec2, names, progressOf(ctx, step));
        const deleted = [
          result.image ? `image ${result.image.imageId}` : '',
          result.snapshotIds.length > 0 ? `snapshots ${result.snapshotIds.join(', ')}` : '',
          ...result.leftovers.instanceIds.map((id) => `instance ${id}`),
          ...result.leftovers.securityGroupIds.map((id) => `security group ${id}`),
        ].filter(Boolean);
        ctx.reporter.info(`deleted: ${deleted.join(', ')}`);
        return { skip: deleted.length === 0 ? 'nothing to delete' : undefined };
      },
    },
  ];
}

/** Runs `argos <env> clean`. */
export async function clean(ctx: Context<CleanOptions>): Promise<void> {
  const { reporter, names } = ctx;
  const steps = cleanSteps(ctx);
  const state: CleanState = {};
  const snapshots = ctx.options.finalSnapshots !== undefined;
  const previews = await reporter.step(snapshots ? `find the final snapshots of ${names.app}` : `find ${names.image} and bake leftovers`, () => previewSteps(steps, state));
  const targets = previews.flatMap(({ preview }) => preview.actions);
  const keeps = previews.flatMap(({ preview }) => preview.keeps ?? []);
  if (targets.length === 0) {
    reporter.info(
      snapshots
        ? [`nothing to delete: no final snapshot of ${names.app} is older than ${ctx.options.finalSnapshots} days but the newest of its environment${keeps.length ? '; kept:' : ''}`, ...keeps.map((k) => `  - ${k}`)].join('\n')
        : `nothing to delete: no ${names.image} and no leftover bake instance or security group`,
    );
    return;
  }
  const keptTitle = snapshots ? 'will keep:' : 'still in use by:';
  reporter.info([`will delete:`, ...targets.map((t) => `  - ${t}`), ...(keeps.length ? [keptTitle, ...keeps.map((k) => `  - ${k}`)] : [])].join('\n'));
  if (ctx.options.dryRun) {
    reporter.info('dry run: nothing was deleted');
    return;
  }
  if (snapshots) {
    await confirmOrExit(reporter, `This will delete ${targets.length} final snapshot${targets.length === 1 ? '' : 's'} of ${names.app}: their data is gone for good. Are you sure?`, {
      yes: ctx.options.yes,
      action: `clean ${ctx.env}`,
      signal: ctx.signal,
    });
    await runSteps(steps, state, stepHostOf(ctx));
    return;
  }
  const users = state.users ?? [];
  const inUse = users.length > 0 ? ` ${users.length} launch template${users.length === 1 ? '' : 's'} still use${users.length === 1 ? 's' : ''} it.` : '';
  await confirmOrExit(reporter, `This will delete the base image ${names.image}, shared by every environment of ${names.app}.${inUse} Are you sure?`, {
    yes: ctx.options.yes,
    action: `clean ${ctx.env}`,
    signal: ctx.signal,
  });
  await runSteps(steps, state, stepHostOf(ctx));
}
