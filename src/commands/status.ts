/**
 * `argos <env> status`. Not available yet: it lands with its own issue.
 */
import { ArgosError } from '../errors.js';
import type { Context } from '../context.js';

/** Runs `argos <env> status`. */
export async function status(ctx: Context): Promise<void> {
  throw new ArgosError('NOT_AVAILABLE', `argos ${ctx.env} status is not available yet: it lands in a later release`);
}
