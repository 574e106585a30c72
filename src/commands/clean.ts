/**
 * `argos <env> clean`: delete the base image, its snapshots and any leftover
 * image-bake instance or security group, after a confirmation. The image is
 * shared by every environment of the app: while a launch template (of any
 * environment) launches from it, clean refuses unless `--force`.
 */
import { describeImageUser, findImageUsers, type ImageUser } from '../autoscaling.js';
import { confirmOrExit } from '../confirm.js';
import { progressOf, type Context } from '../context.js';
import { ArgosError } from '../errors.js';
import type { CleanOptions } from '../options.js';
import { deleteImage, findBakeLeftovers, findImage, type ImageInfo } from '../image.js';
import type { EnvNames } from '../names.js';
import { previewSteps, runSteps, type Step, stepHostOf } from './steps.js';

/** What clean's preview found and its prompt says. */
interface CleanState {
  users?: ImageUser[];
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

/** The one step of clean: its preview is what the prompt lists, its run deletes. */
function cleanSteps(ctx: Context<CleanOptions>): Step<CleanState>[] {
  const { ec2 } = ctx.clients;
  const { names } = ctx;
  return [
    {
      id: 'image',
      title: `delete ${names.image}`,
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
  const previews = await reporter.step(`find ${names.image} and bake leftovers`, () => previewSteps(steps, state));
  const targets = previews.flatMap(({ preview }) => preview.actions);
  const keeps = previews.flatMap(({ preview }) => preview.keeps ?? []);
  if (targets.length === 0) {
    reporter.info(`nothing to delete: no ${names.image} and no leftover bake instance or security group`);
    return;
  }
  reporter.info([`will delete:`, ...targets.map((t) => `  - ${t}`), ...(keeps.length ? ['still in use by:', ...keeps.map((k) => `  - ${k}`)] : [])].join('\n'));
  if (ctx.options.dryRun) {
    reporter.info('dry run: nothing was deleted');
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
