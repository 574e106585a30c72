/**
 * The database in commission on the modelled AWS (virtual clock), issue 19
 * item 8: the PostgreSQL version is checked before anything is created, and a
 * failing database step is reported when it fails, not when the bake it runs
 * beside has finished.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commission } from '../../src/commands/commission.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

let run: ModelledRun | undefined;
afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

describe('commission preflight: db_engine_version', () => {
  it('refuses a version RDS no longer offers, listing the ones it does, and creates nothing', async () => {
    run = await createModelledRun({ config: { db_engine_version: '16.4' } });
    const error = (await commission(run.ctx).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe('CONFIG');
    expect(error.message).toContain(
      'db_engine_version "16.4": RDS in us-east-1 does not offer PostgreSQL 16.4; set it to a major version such as "17" (RDS picks its current minor) ' +
        'or to one it offers: 17 (17.4, 17.5, 17.6); 16 (16.8, 16.9, 16.10); 15 (15.10, 15.12)',
    );
    expect(run.aws.state.securityGroups.size).toBe(0);
    expect(run.aws.state.databases.size).toBe(0);
  });

  it('accepts the default major version and creates the database with it (RDS picks the minor)', async () => {
    run = await createModelledRun({ options: { deploy: false } });
    await commission(run.ctx);
    expect(run.aws.state.databases.get(run.ctx.names.database)?.input.EngineVersion).toBe('16');
  });
});

describe('commission: a database step that fails while the image bakes', () => {
  it('is reported at once; the run still ends only after the bake has finished and cleaned up', async () => {
    run = await createModelledRun({ options: { deploy: false } });
    run.aws.failOnce('CreateDBInstance');
    await expect(commission(run.ctx)).rejects.toThrow(/CreateDBInstance failed \(injected fault\)/);
    const warning = run.reporter.lines.find((line) => line.level === 'warn' && line.message.startsWith('database argos-staging-database failed'));
    const image = run.reporter.steps.find((step) => step.title === 'image argos-image');
    expect(warning?.message).toMatch(/CreateDBInstance failed \(injected fault\)\. Stopping once .*image argos-image.* finished or cleaned up/);
    // Within seconds of the start, while the bake (minutes) is still running.
    expect(warning?.at).toBeLessThan(60_000);
    expect(image?.end).toBeGreaterThan(10 * 60_000);
    expect(run.aws.liveInstances().filter((i) => i.tags.some((t) => t.Key === 'Group' && t.Value === 'image'))).toEqual([]);
  });
});
