/**
 * The benchmark's commission time to serving (bench/commission-serving.ts):
 * read from the modelled AWS, where an instance is InService only with the
 * app, so it must fall after the deploy put the app on the first app server
 * and its health checks passed; and its text Gantt chart.
 */
import { describe, expect, it } from 'vitest';
import { boundTerms, measureCommissionServing, renderGantt, type ServingRun } from '../../bench/commission-serving.js';
import { DEFAULT_PARAMETERS } from '../support/modelled-aws.js';

describe('commission time to serving (modelled)', () => {
  it('is when the first app server the deploy configured is InService, for both environments', async () => {
    const [first, second] = await measureCommissionServing();
    for (const run of [first, second]) {
      if (!run) throw new Error('two runs expected');
      const playbooks = run.steps.find((step) => step.title === 'run the playbooks');
      const serving = run.steps.find((step) => step.title === 'wait for the app servers to serve');
      if (!playbooks || !serving) throw new Error(`missing steps in ${run.steps.map((step) => step.title).join(', ')}`);
      // Launched from the base image and configured in place: InService once the app is on it and 2 checks 10 s apart passed, within the wait.
      expect(run.servingSeconds).toBeGreaterThanOrEqual(playbooks.end + boundTerms().checks);
      expect(run.servingSeconds).toBeLessThanOrEqual(serving.end);
      expect(run.ratio).toBeCloseTo(run.servingSeconds / run.boundSeconds, 3);
    }
    // The release image is off the path to serving: it is still being made when the first environment serves.
    const release = first?.steps.find((step) => step.title === 'release image');
    expect(first?.servingSeconds).toBeLessThan(release?.end ?? 0);
    // The second environment reuses the image: no bake on its path.
    const image = second?.steps.find((step) => step.title.startsWith('image '));
    expect((image?.end ?? Infinity) - (image?.start ?? 0)).toBeLessThan(5);
    expect(second?.boundSeconds).toBe(Math.max(boundTerms().database, boundTerms().boot + boundTerms().configure + boundTerms().checks));
  });

  it('configures the second environment\'s app servers while its database is created, and the first\'s in one run', async () => {
    const [first, second] = await measureCommissionServing();
    const find = (run: ServingRun | undefined, prefix: string) => {
      const step = run?.steps.find((candidate) => candidate.title.startsWith(prefix));
      if (!step) throw new Error(`no step ${prefix} in ${run?.label ?? 'a missing run'}`);
      return step;
    };
    // First environment: the database was available before its app servers ran (the bake is longer): nothing to do early.
    const firstPrepare = find(first, 'configure the app servers while the database is created');
    expect(firstPrepare.end - firstPrepare.start).toBeLessThan(1);
    expect(find(first, 'run the playbooks').end - find(first, 'run the playbooks').start).toBeGreaterThanOrEqual(DEFAULT_PARAMETERS.deployPlaybookMs / 1000);
    // Second: prepare.yml ran once its app server answered SSH, and ended before the database was available ...
    const servers = find(second, 'app servers ');
    const database = find(second, 'database ');
    const prepare = find(second, 'configure the app servers while the database is created');
    expect(prepare.start).toBeGreaterThanOrEqual(servers.end);
    expect(prepare.end - prepare.start).toBeGreaterThanOrEqual(DEFAULT_PARAMETERS.preparePlaybookMs / 1000);
    expect(prepare.end).toBeLessThan(database.end);
    // ... and the deploy after the database ran only the rest: its own SSH window opened after prepare's closed.
    const playbooks = find(second, 'run the playbooks');
    expect(find(second, 'open temporary SSH').start).toBeGreaterThanOrEqual(prepare.end);
    expect(playbooks.start).toBeGreaterThanOrEqual(database.end);
    expect(playbooks.end - playbooks.start).toBeCloseTo(DEFAULT_PARAMETERS.preparedDeployPlaybookMs / 1000, 0);
    expect(second?.servingSeconds).toBeLessThan(database.end + DEFAULT_PARAMETERS.deployPlaybookMs / 1000);
  });

  it('takes its bound terms from the model parameters', () => {
    const terms = boundTerms({ ...DEFAULT_PARAMETERS, instanceRunningMs: 1_000, sshReadyMs: 2_000, imagePlaybookMs: 4_000, imageAvailableMs: 8_000, deployPlaybookMs: 16_000 });
    expect(terms).toMatchObject({ bake: 15, boot: 3, configure: 16, checks: 20 });
  });
});

describe('renderGantt', () => {
  it('draws each step over its share of the width and marks when the app served', () => {
    const chart = renderGantt([{ title: 'a', start: 0, end: 50 }, { title: 'b', start: 50, end: 100 }], 100, 75, 10).split('\n');
    expect(chart[1]).toMatch(/a\s+0\.0\s+50\.0 {2}######\.\|\.\.$/);
    expect(chart[2]).toMatch(/b\s+50\.0\s+100\.0 {2}\.\.\.\.\.#####$/);
    expect(chart[3]).toMatch(/app answers through the load balancer\s+75\.0\s+75\.0 {2} {7}\| {2}$/);
  });
});
