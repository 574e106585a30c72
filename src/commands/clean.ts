/**
 * `argos <env> clean`: delete the base image, its snapshots and any leftover
 * image-bake instance or security group, after a confirmation.
 */
import { confirmOrExit } from '../confirm.js';
import type { Context } from '../context.js';
import type { CleanOptions } from '../options.js';
import { deleteImage, findBakeLeftovers, findImage } from '../image.js';

/** Runs `argos <env> clean`. */
export async function clean(ctx: Context<CleanOptions>): Promise<void> {
  const { ec2 } = ctx.clients;
  const { reporter, names } = ctx;
  const found = await reporter.step(`find ${names.image} and bake leftovers`, async () => ({
    image: await findImage(ec2, names),
    leftovers: await findBakeLeftovers(ec2, names),
  }));
  const targets = [
    ...(found.image ? [`image ${names.image} (${found.image.imageId}) and its snapshots ${found.image.snapshotIds.join(', ') || '(none)'}`] : []),
    ...found.leftovers.instanceIds.map((id) => `bake instance ${id}`),
    ...found.leftovers.securityGroupIds.map((id) => `bake security group ${names.imageSecurityGroup} (${id})`),
  ];
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
  const result = await reporter.step(`delete ${names.image}`, (step) => deleteImage(ec2, names, { signal: ctx.signal, onProgress: (note) => step.note(note) }));
  reporter.info(
    `deleted: ${[
      result.image ? `image ${result.image.imageId}` : '',
      result.snapshotIds.length > 0 ? `snapshots ${result.snapshotIds.join(', ')}` : '',
      ...result.leftovers.instanceIds.map((id) => `instance ${id}`),
      ...result.leftovers.securityGroupIds.map((id) => `security group ${id}`),
    ].filter(Boolean).join(', ')}`,
  );
}
