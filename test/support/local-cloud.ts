/**
 * The skip-or-fail rule of the local cloud's tests: `{ ok: false, reason }` for
 * `describe.skipIf` where the cloud cannot run (no root, nspawn, debootstrap,
 * overlayfs), and a throw instead when `ARGOS_REQUIRE_LOCAL_TARGET=1` (CI).
 */
import { canRunLocalCloud } from '../../localcloud/cloud.js';

/** Whether the local cloud's tests can run here; throws under ARGOS_REQUIRE_LOCAL_TARGET=1 when not. */
export function localCloudOrSkip(env: NodeJS.ProcessEnv = process.env): { ok: boolean; reason?: string } {
  const capability = canRunLocalCloud();
  if (!capability.ok && env['ARGOS_REQUIRE_LOCAL_TARGET'] === '1') {
    throw new Error(`ARGOS_REQUIRE_LOCAL_TARGET=1 but the local cloud cannot run here: ${capability.reason ?? 'unknown'}`);
  }
  return capability;
}
