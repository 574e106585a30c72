/**
 * `argos <env> decommission`. Not available yet: it lands with its own issue.
 */
import { ArgosError } from '../errors.js';
import type { Context } from '../context.js';

/** Runs `argos <env> decommission`. */
export async function decommission(ctx: Context): Promise<void> {
  throw new ArgosError('NOT_AVAILABLE', `argos ${ctx.env} decommission is not available yet: it lands in a later release`);
}
