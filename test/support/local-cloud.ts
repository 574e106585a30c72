/**
 * Whether the local cloud (localcloud/cloud.ts: systemd machines under
 * systemd-nspawn) can run here, for suites that skip without it: under
 * `ARGOS_REQUIRE_LOCAL_TARGET=1` (CI) a missing capability throws instead, so
 * CI fails rather than skips.
 */
import { canRunLocalCloud } from '../../localcloud/cloud.js';

/** `{ ok: true }`, or `{ ok: false, reason }` to pass to `describe.skipIf`. */
export function localCloudOrSkip(env: NodeJS.ProcessEnv = process.env): { ok: boolean; reason?: string } {
  const capability = canRunLocalCloud();
  if (!capability.ok && env['ARGOS_REQUIRE_LOCAL_TARGET'] === '1') {
    throw new Error(`ARGOS_REQUIRE_LOCAL_TARGET=1 but the local cloud cannot run here: ${capability.reason ?? 'unknown'}`);
  }
  return capability;
}
