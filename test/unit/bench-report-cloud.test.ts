/**
 * The local cloud's part of BENCHMARKS.md (bench/report-cloud.ts): each goal
 * of issue 20 is judged from the measured figures, not stated.
 */
import { describe, expect, it } from 'vitest';
import type { CloudDeployReport } from '../../bench/cloud-deploy.js';
import { cloudSummaryRows, renderCloudSection } from '../../bench/report-cloud.js';
import { summarize } from '../../bench/stats.js';

/** A report with the given deploy ratio at 50 ms, failed requests while rolling, and rolling time. */
function report(options: { argos50: number; failed: number; rollingMs: number }): CloudDeployReport {
  const cell = (rttMs: number, argosMs: number) => ({ hosts: 3, rttMs, kind: 'converged' as const, argosMs: summarize([argosMs]), originalMs: summarize([100_000]), ratio: argosMs / 100_000 });
  return {
    commissionMs: 300_000,
    commissionSteps: 'image 60s',
    secondEnv: {
      databaseSeconds: 90,
      databaseStepSeconds: 95,
      servingSeconds: 97.5,
      commandSeconds: 150,
      steps: { 'app servers argos-production-app': 1.5 },
      prepareSeconds: 12,
      restSeconds: 6,
      firstDeploySeconds: 20,
      boundSeconds: 90,
      ratio: 1.083,
    },
    cells: [cell(0, 20_000), cell(50, options.argos50)],
    latencyCost: [{ hosts: 3, kind: 'converged', ratio: options.argos50 / 20_000 }],
    tasks: [{ task: 'app : Write the nginx site', seconds0: 1, seconds50: 1.5, roundTrips: 10 }],
    codeTasks: [],
    scaleOut: { inServiceMs: 20_000, bootMs: 5_000, boundMs: 35_000, ratio: 0.571 },
    releaseImage: { withMs: 60_000, withoutMs: 20_000, addedMs: 40_000 },
    rolling: { rollingMs: options.rollingMs, allAtOnceMs: 20_000, ratio: options.rollingMs / 20_000, rolling: { requests: 1500, failed: options.failed, versions: ['1', '2'] }, allAtOnce: { requests: 1000, failed: 12, versions: ['2', '3'] } },
    runs: 1,
    skippedCells: [],
  };
}

const met = (rows: string[][], figure: string) => rows.find((row) => row[0]?.startsWith(figure))?.[3];

describe('cloudSummaryRows', () => {
  it('meets the goals only where the figures do', () => {
    const good = cloudSummaryRows(report({ argos50: 22_000, failed: 0, rollingMs: 39_000 }));
    expect(met(good, 'deploy at 50 ms RTT')).toBe('**yes**');
    expect(met(good, 'argos deploy at 50 ms / at 0 ms')).toBe('**yes**');
    expect(met(good, 'rolling deploy / all at once')).toBe('**yes**');
    expect(met(good, 'failed requests')).toBe('**yes**');
    const bad = cloudSummaryRows(report({ argos50: 26_000, failed: 1, rollingMs: 41_000 }));
    expect(met(bad, 'deploy at 50 ms RTT')).toBe('**no**');
    expect(met(bad, 'argos deploy at 50 ms / at 0 ms')).toBe('**no**');
    expect(met(bad, 'rolling deploy / all at once')).toBe('**no**');
    expect(met(bad, 'failed requests')).toBe('**no**');
  });

  it("says how the second environment's first deploy split around its database, and its time to serving", () => {
    const text = renderCloudSection(report({ argos50: 22_000, failed: 0, rollingMs: 39_000 }), '## 3');
    expect(text).toContain('playbooks/prepare.yml took 12 s while the database was being created, the deploy\'s playbooks 6 s once it was available, where the first environment\'s first deploy took 20 s all at once: 0.6 and 0.3 of it');
    expect(text).toContain('97.5 s after the start, 2.5 s after the database step');
    expect(text).toContain('= 90 s: 1.083×');
    const unprepared = report({ argos50: 22_000, failed: 0, rollingMs: 39_000 });
    unprepared.secondEnv = { ...unprepared.secondEnv, prepareSeconds: undefined };
    expect(renderCloudSection(unprepared, '## 3')).toContain('playbooks/prepare.yml did not run');
  });

  it('shows the request counts and versions of both deploys in the section', () => {
    const text = renderCloudSection(report({ argos50: 22_000, failed: 0, rollingMs: 39_000 }), '## 3');
    expect(text).toContain('rolling 0 failed of 1500 (versions 1 → 2)');
    expect(text).toContain('all at once 12 failed of 1000 (versions 2 → 3)');
  });

  it('explains a missed rolling goal with its floor estimated from the same run: servers one after another plus the checks per batch', () => {
    const missed = report({ argos50: 22_000, failed: 0, rollingMs: 98_000 });
    missed.cells.push({ hosts: 1, rttMs: 0, kind: 'code change', argosMs: summarize([22_000]), originalMs: summarize([33_000]), ratio: 0.667 });
    const text = renderCloudSection(missed, '## 3');
    // 3 × 22 s + 3 × (2 − 1) × 10 s = 96 s: 4.8× the 20 s all at once; 98 s is 1.02× that.
    expect(text).toContain('= 96.0 s, 4.8× all at once; the measured rolling deploy took 1.02× that estimate. No faster polling');
    // Without the one-server row there is no estimate, only the cause; a met goal needs no explanation.
    expect(renderCloudSection(report({ argos50: 22_000, failed: 0, rollingMs: 98_000 }), '## 3')).not.toContain('estimate of its floor');
    expect(renderCloudSection(report({ argos50: 22_000, failed: 0, rollingMs: 39_000 }), '## 3')).not.toContain('Why the time goal is missed');
    // 30 s of checks is 1.5× the 20 s all at once: the goal is not out of reach by the checks alone.
    expect(text).toContain('Meeting it needs the playbook');
  });

  it('says when the healthy checks alone exceed the goal: 3 × (2 − 1) × 10 s against a fast all-at-once deploy', () => {
    const fast = report({ argos50: 22_000, failed: 0, rollingMs: 60_000 });
    fast.rolling = { ...fast.rolling, allAtOnceMs: 12_000, ratio: 5 };
    const text = renderCloudSection(fast, '## 3');
    expect(text).toContain('The healthy checks alone, 3 × (2 − 1) × 10 s = 30.0 s, are 2.5× the all-at-once deploy');
    expect(text).not.toContain('Meeting it needs the playbook');
    // At the API's shortest check (5 s, 2) the checks take 15 s, 1.25× this deploy: a shorter Interval could still meet it.
    expect(text).toContain('3 × (2 − 1) × 5 s = 15.0 s, 1.25× the all-at-once deploy. Only fewer batches');
    expect(text).toContain('or a shorter Interval would');
  });

  it("says when even the shortest health check the API accepts leaves the goal out of reach, counting the servers' deploys", () => {
    const faster = report({ argos50: 22_000, failed: 0, rollingMs: 60_000 });
    faster.rolling = { ...faster.rolling, allAtOnceMs: 8_000, ratio: 7.5 };
    // Checks alone: 15 s, 1.875× of 8 s, under the goal; with 3 × a 2 s one-server deploy: 21 s, 2.63×.
    faster.cells.push({ hosts: 1, rttMs: 0, kind: 'code change', argosMs: summarize([2_000]), originalMs: summarize([20_000]), ratio: 0.1 });
    const text = renderCloudSection(faster, '## 3');
    expect(text).toContain('3 × (2 − 1) × 5 s = 15.0 s, and the floor estimated as above 21.0 s, 2.63× the all-at-once deploy: no health check setting of a Classic Load Balancer');
    expect(text).not.toContain('or a shorter Interval would');
  });

  it('shows the code-change deploy of one server task by task, and how much of its added time is around the tasks', () => {
    const timed = report({ argos50: 22_000, failed: 0, rollingMs: 39_000 });
    expect(renderCloudSection(timed, '## 3')).not.toContain('The code-change deploy of 1 app server');
    timed.cells.push(
      { hosts: 1, rttMs: 0, kind: 'code change', argosMs: summarize([6_000]), originalMs: summarize([20_000]), ratio: 0.3 },
      { hosts: 1, rttMs: 50, kind: 'code change', argosMs: summarize([8_000]), originalMs: summarize([60_000]), ratio: 0.133 },
    );
    timed.codeTasks = [
      { task: 'image : Check out the app', seconds0: 0.5, seconds50: 0.8, roundTrips: 6 },
      { task: 'converged : Ask the server what differs', seconds0: 0.6, seconds50: 0.8, roundTrips: 4 },
      { task: 'Restart uWSGI', seconds0: 0.4, seconds50: Number.NaN, roundTrips: Number.NaN },
    ];
    timed.codeTasks.push({ task: "Wait for argos's go (its SSH logins to the hosts)", seconds0: 0.1, seconds50: 0.4, roundTrips: 6 });
    const text = renderCloudSection(timed, '## 3');
    // 3 measured tasks: 1.2 s → 2.0 s (0.8 s apart), against the medians' 2 s added; the gate's wait named.
    expect(text).toContain(
      '3 tasks took 1.2 s at 0 ms and 2 s at 50 ms. The deploy\'s medians were 6.0 s and 8.0 s (2.0 s added); the task times are of one run at each latency (0.8 s apart), so they need not add up to the medians\' difference. ' +
        '"Wait for argos\'s go (its SSH logins to the hosts)" is the part of argos\'s SSH logins that ansible-playbook\'s start-up did not cover: 0.1 s and 0.4 s.',
    );
    expect(text).toMatch(/\| image : Check out the app \| 0.5 s \| 0.8 s \| 6 \|\n\| converged : Ask the server what differs \|/);
    expect(text).not.toContain('Restart uWSGI');
  });
});
