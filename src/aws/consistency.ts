/**
 * EC2's eventual consistency, handled in one place. AWS documents ("Eventual
 * consistency in the Amazon EC2 API") that right after a create, a call naming
 * the new id may answer `InvalidGroup.NotFound` / `InvalidInstanceID.NotFound`
 * although the thing exists, and that such calls should be retried with
 * backoff. So argos retries a not-found only for something this run has just
 * created; anywhere else a not-found means gone, at once.
 */
import { retryOnCodes, type Progress } from '../wait.js';

/** How long an id argos has just created may still read as not found (AWS: seconds, under load minutes). */
export const VISIBILITY_TIMEOUT_MS = 2 * 60_000;

/**
 * Runs `call` on something this run has just created, retrying (backoff from
 * 2s, bounded by {@link VISIBILITY_TIMEOUT_MS}, abortable) while it fails with
 * one of `notFoundCodes`. After the bound it fails with a TIMEOUT naming `what`.
 */
export async function retryWhileNotVisible<T>(call: () => Promise<T>, notFoundCodes: readonly string[], what: string, wait: Progress): Promise<T> {
  return retryOnCodes(call, notFoundCodes, { what: `${what} to be visible`, timeoutMs: VISIBILITY_TIMEOUT_MS, intervalMs: 2_000, signal: wait.signal, clock: wait.clock });
}
