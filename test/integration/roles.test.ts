/**
 * Every Ansible role on a real systemd machine of the local cloud, through
 * ./test.sh --provider local: a dry run, converge, a second run with nothing
 * changed, the role's checks and socket allow-list, a reboot after which every
 * service the role enables is back by itself, a SIGKILL to each long-running
 * service that systemd must undo, and a teardown that leaves nothing behind.
 * Several minutes per role; CI runs it with ARGOS_REQUIRE_LOCAL_TARGET=1.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_DIR, leftovers } from '../../localcloud/cloud.js';
import { REPO_ROOT } from '../support/cli.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();
/**
 * A cloud name of its own, so a developer's ./test.sh run (cloud rt) does not collide with this one;
 * LOCALCLOUD_ROLES_NAME another, where several worktrees run this test at once (one namespace each).
 */
const CLOUD = process.env['LOCALCLOUD_ROLES_NAME'] ?? 'rtv';

/** The roles ./test.sh lists: the indented lines under "Roles:". */
function listedRoles(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === 'Roles:');
  const roles: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s+\S/.test(line)) break;
    roles.push(line.trim());
  }
  return roles;
}

const roles = listedRoles((await execa(`${REPO_ROOT}/test.sh`, [], { cwd: REPO_ROOT })).stdout);

describe.skipIf(!capability.ok)(`./test.sh on systemd machines${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  it('lists the roles', () => {
    expect(roles).toEqual(expect.arrayContaining(['app', 'broker', 'database', 'image', 'worker']));
  });

  it.each(roles)('%s converges, is idempotent, passes its checks, survives a reboot and restarts killed services', async (role) => {
    const result = await execa(`${REPO_ROOT}/test.sh`, ['--provider', 'local', role], {
      cwd: REPO_ROOT, reject: false, all: true, timeout: 1_500_000, env: { ARGOS_TEST_CLOUD: CLOUD },
    });
    expect(result.exitCode, result.all.slice(-3000)).toBe(0);
    // Each phase reports its time only once it passed; the verdict comes last.
    for (const phase of ['check', 'converge', 'idempotence', 'verify', 'reboot', 'verify after reboot', 'restart']) {
      expect(result.all).toMatch(new RegExp(`==> ${role}: ${phase} ok in \\d+\\.\\ds`));
    }
    expect(result.all).toMatch(new RegExp(`==> ${role}: PASSED in `));
    // Nothing of the machine is left: namespace, mounts, cgroups, processes, links, state.
    expect(await leftovers(join(DEFAULT_CACHE_DIR, 'run', CLOUD), `lc-${CLOUD}`, CLOUD)).toEqual([]);
  }, 1_500_000);
});
