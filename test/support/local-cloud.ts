/**
 * The skip rule of the local cloud's tests: they need root and nspawn, skip with the
 * reason where those are missing, and fail instead under ARGOS_REQUIRE_LOCAL_TARGET=1 (CI).
 */
import { canRunLocalCloud } from '../../localcloud/cloud.js';

/** `{ ok: true }`, or `{ ok: false, reason }` for `describe.skipIf`; throws under ARGOS_REQUIRE_LOCAL_TARGET=1. */
export function localCloudOrSkip(env: NodeJS.ProcessEnv = process.env): { ok: boolean; reason?: string } {
  const capability = canRunLocalCloud();
  if (!capability.ok && env['ARGOS_REQUIRE_LOCAL_TARGET'] === '1') {
    throw new Error(`ARGOS_REQUIRE_LOCAL_TARGET=1 but the local cloud cannot run here: ${capability.reason ?? 'unknown'}`);
  }
  return capability;
}
