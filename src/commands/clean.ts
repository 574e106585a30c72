/**
 * `argos <env> clean`. Not available yet: it lands with its own issue.
 */
import { ArgosError } from '../errors.js';
import type { Context } from '../context.js';

/** Runs `argos <env> clean`. */
export async function clean(ctx: Context): Promise<void> {
  throw new ArgosError('NOT_AVAILABLE', `argos ${ctx.env} clean is not available yet: it lands in a later release`);
}
