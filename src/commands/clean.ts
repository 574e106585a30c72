/**
 * `argos <env> clean`: delete the base image, its snapshots and any leftover
 * image-bake instance or security group, after a confirmation.
 */
import { confirmOrExit } from '../confirm.js';
import { progressOf, type Context } from '../context.js';
import type { CleanOptions } from '../options.js';
import { deleteImage, findBakeLeftovers, findImage } from '../image.js';
import { previewSteps, runSteps, type Step, stepHostOf } from './steps.js';

/** The one step of clean: its preview is what the prompt lists, its run deletes. */
function cleanSteps(ctx: Context<CleanOptions>): Step<object>[] {
  const { ec2 } = ctx.clients;
  const { names } = ctx;
  return [
    {
      id: 'image',
      title: `delete ${names.image}`,
      preview: async () => {
        const [image, leftovers] = await Promise.all([findImage(ec2, names), findBakeLeftovers(ec2, names)]);
        return {
          actions: [
            ...(image ? [`image ${names.image} (${image.imageId}) and its snapshots ${image.snapshotIds.join(', ') || '(none)'}`] : []),
            ...leftovers.instanceIds.map((id) => `bake instance ${id}`),
            ...leftovers.securityGroupIds.map((id) => `bake security group ${names.imageSecurityGroup} (${id})`),
          ],
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
  const previews = await reporter.step(`find ${names.image} and bake leftovers`, () => previewSteps(steps, {}));
  const targets = previews.flatMap(({ preview }) => preview.actions);
  if (targets.length === 0) {
    reporter.info(`nothing to delete: no ${names.image} and no leftover bake instance or security group`);
    return;
  }
  reporter.info(`will delete:\n${targets.map((t) => `  - ${t}`).join('\n')}`);
  if (ctx.options.dryRun) {
    reporter.info('dry run: nothing was deleted');
    return;
  }
  await confirmOrExit(reporter, `This will delete the base image for [${ctx.env}]. Are you sure?`, { yes: ctx.options.yes, action: `clean ${ctx.env}`, signal: ctx.signal });
  await runSteps(steps, {}, stepHostOf(ctx));
}
