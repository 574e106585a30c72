/**
 * The bench's reading of a commission's step times line (bench/cloud-second-env.ts),
 * as src/commands/steps.ts writes it with src/reporter.ts's formatDuration.
 */
import { describe, expect, it } from 'vitest';
import { parseStepTimes } from '../../bench/cloud-second-env.js';
import { formatDuration } from '../../src/reporter.js';

describe('parseStepTimes', () => {
  it('reads every step, whatever its duration format and skip reason', () => {
    const line = [
      `security groups ${formatDuration(120)}`,
      `database argos-production-database ${formatDuration(91_400)}`,
      `configure the app servers while the database is created ${formatDuration(12_300)}`,
      `resume health replacement ${formatDuration(0)} (nothing suspended)`,
      `release image ${formatDuration(3_725_000)}`,
      `run the playbooks ${formatDuration(8_100)}`,
    ].join(', ');
    expect(parseStepTimes(line)).toEqual({
      'security groups': 0.1,
      'database argos-production-database': 91,
      'configure the app servers while the database is created': 12.3,
      'resume health replacement': 0,
      'release image': 3720,
      'run the playbooks': 8.1,
    });
  });
});
