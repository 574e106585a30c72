/**
 * `argos <env> commission`. Not available yet: it lands with its own issue.
 */
import { ArgosError } from '../errors.js';
import type { Context } from '../context.js';

/** Runs `argos <env> commission`. */
export async function commission(ctx: Context): Promise<void> {
  throw new ArgosError('NOT_AVAILABLE', `argos ${ctx.env} commission is not available yet: it lands in a later release`);
}
