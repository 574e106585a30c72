/**
 * Every Ansible role on a real local target, through ./test.sh: converge, a
 * second run with nothing changed (idempotence), the role's own checks, and
 * a teardown that leaves no process or mount behind.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';
import { localTargetOrSkip } from '../support/local-target.js';

const capability = localTargetOrSkip();
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

describe.skipIf(!capability.ok)(`./test.sh on the local target${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  it('lists the roles', () => {
    expect(roles).toEqual(expect.arrayContaining(['app', 'broker', 'database', 'image', 'worker']));
  });

  it.each(roles)('%s converges, is idempotent and passes its checks', async (role) => {
    const result = await execa(`${REPO_ROOT}/test.sh`, ['--provider', 'local', role], { cwd: REPO_ROOT, reject: false, all: true, timeout: 1_200_000 });
    expect(result.exitCode).toBe(0);
    // test.sh's own verdict, printed only after the second run reported changed=0 and the checks passed.
    expect(result.all).toMatch(new RegExp(`==> ${role}: PASSED in `));
    const leftovers = await execa('sh', ['-c', `grep -c '${REPO_ROOT}/.cache' /proc/mounts || true`]);
    expect(leftovers.stdout.trim()).toBe('0');
  }, 1_200_000);
});
