/**
 * `argos <env> deploy`. Not available yet: it lands with its own issue.
 */
import { ArgosError } from '../errors.js';
import type { Context } from '../context.js';

/** Runs `argos <env> deploy`. */
export async function deploy(ctx: Context): Promise<void> {
  throw new ArgosError('NOT_AVAILABLE', `argos ${ctx.env} deploy is not available yet: it lands in a later release`);
}
