import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { listMountsUnder } from '../support/run-tmpdir.js';

describe('the run-scoped temporary directory', () => {
  it('is where this test process makes its temporary directories', () => {
    expect(process.env['ARGOS_RUN_TMPDIR']).toMatch(/argos-vitest-/);
    expect(tmpdir()).toBe(process.env['ARGOS_RUN_TMPDIR']);
  });

  it('finds the mount points under a directory (what its removal must not cross), and no others', () => {
    const mountinfo = [
      '22 1 0:21 / / rw,relatime - ext4 /dev/vda rw',
      '97 22 0:5 / /tmp/argos-vitest-x/argos-target-1/root/dev rw - devtmpfs udev rw',
      '98 22 0:22 / /tmp/argos-vitest-x/with\\040space/proc rw - proc proc rw',
      '99 22 0:23 / /tmp/argos-vitest-xy/proc rw - proc proc rw',
      '',
    ].join('\n');
    expect(listMountsUnder('/tmp/argos-vitest-x', mountinfo)).toEqual([
      '/tmp/argos-vitest-x/argos-target-1/root/dev',
      '/tmp/argos-vitest-x/with space/proc',
    ]);
    expect(listMountsUnder('/tmp/argos-vitest-z', mountinfo)).toEqual([]);
  });
});
