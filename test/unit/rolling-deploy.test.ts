import {
  DescribeLoadBalancerAttributesCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient,
  type HealthCheck,
} from '@aws-sdk/client-elastic-load-balancing';
import { writeFile } from 'node:fs/promises';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { parseBatchSize } from '../../src/batch-size.js';
import { findUpToDate } from '../../src/commands/deploy.js';
import { ArgosError } from '../../src/errors.js';
import { planBatches, readRotationSettings, runRollingDeploy, type RollingActions, type RollingPlan } from '../../src/commands/rolling-deploy.js';
import type { InventoryHost } from '../../src/hosts.js';

const host = (n: number): InventoryHost => ({
  address: `ec2-54-0-0-${n}.compute-1.amazonaws.com`,
  instanceId: `i-${n}`,
  privateDnsName: undefined,
  privateIpAddress: undefined,
  securityGroupIds: [],
});

/** Records every action in order; `failOn` makes the playbook run of that batch (1-based) fail. */
function recorder(failOn?: number): { log: string[]; actions: RollingActions } {
  const log: string[] = [];
  let runs = 0;
  return {
    log,
    actions: {
      suspend: async () => (log.push('suspend'), ['HealthCheck', 'ReplaceUnhealthy']),
      resume: async (processes) => void log.push(`resume ${processes.join(',')}`),
      takeOut: async (ids) => void log.push(`out ${ids.join(',')}`),
      putBack: async (ids) => void log.push(`back ${ids.join(',')}`),
      register: async (ids) => void log.push(`register ${ids.join(',')}`),
      runPlaybooks: async (playbooks, limit) => {
        runs += 1;
        log.push(`run ${playbooks.join('+')} on ${limit.map((a) => a.split('.')[0]).join(',')}`);
        if (runs === failOn) throw new Error('TASK [app : Start uWSGI] failed on ec2-54-0-0-2');
      },
      note: () => undefined,
    },
  };
}

const plan = (servers: number, overrides: Partial<RollingPlan> = {}): RollingPlan => ({
  appServers: Array.from({ length: servers }, (_, i) => host(i + 1)),
  otherHosts: [host(9)],
  firstPlaybooks: ['site.yml'],
  laterPlaybooks: ['app.yml'],
  batch: { count: 1 },
  advice: 'Run argos staging rollback, or fix it and deploy again.',
  ...overrides,
});

describe('batches', () => {
  it('reads a count or a percentage and refuses anything else', () => {
    expect(parseBatchSize('2', '--batch')).toEqual({ value: { count: 2 } });
    expect(parseBatchSize('25%', '--batch')).toEqual({ value: { percent: 25 } });
    for (const wrong of ['0', '0%', '101%', 'half', '-1', '1.5']) {
      expect(parseBatchSize(wrong, '--batch')).toEqual({ error: `--batch must be a number of app servers (1 or more) or a percentage such as 25%, not '${wrong}'` });
    }
  });

  it('splits in inventory order, rounding a percentage up and never below one host', () => {
    expect(planBatches([1, 2, 3], { count: 1 })).toEqual([[1], [2], [3]]);
    expect(planBatches([1, 2, 3, 4, 5], { count: 2 })).toEqual([[1, 2], [3, 4], [5]]);
    expect(planBatches([1, 2, 3], { percent: 50 })).toEqual([[1, 2], [3]]);
    expect(planBatches([1, 2, 3], { percent: 1 })).toEqual([[1], [2], [3]]);
    expect(planBatches([1, 2], { count: 5 })).toEqual([[1, 2]]);
  });
});

describe('runRollingDeploy', () => {
  it('takes each batch out, updates it, puts it back, and carries the other roles with the first batch only', async () => {
    const { log, actions } = recorder();
    await runRollingDeploy(plan(3), actions);
    expect(log).toEqual([
      'suspend',
      'out i-1',
      'run site.yml on ec2-54-0-0-9,ec2-54-0-0-1',
      'back i-1',
      'out i-2',
      'run app.yml on ec2-54-0-0-2',
      'back i-2',
      'out i-3',
      'run app.yml on ec2-54-0-0-3',
      'back i-3',
      'resume HealthCheck,ReplaceUnhealthy',
    ]);
  });

  it('updates the app servers the load balancer has out of service first, then the others in inventory order', async () => {
    const { log, actions } = recorder();
    await runRollingDeploy(plan(3, { notServing: new Set(['i-3']) }), actions);
    expect(log.filter((line) => line.startsWith('out '))).toEqual(['out i-3', 'out i-1', 'out i-2']);
    // The other roles still go with the first batch, whichever it is.
    expect(log[2]).toBe('run site.yml on ec2-54-0-0-9,ec2-54-0-0-3');
  });

  it('leaves the servers the check finds up to date in service; the first batch to update still carries the other roles', async () => {
    const { log, actions } = recorder();
    const notes: string[] = [];
    actions.note = (line) => void notes.push(line);
    actions.findUpToDate = async (hosts) => (log.push(`check ${hosts.map((h) => h.instanceId).join(',')}`), new Set(['i-1', 'i-3']));
    await runRollingDeploy(plan(3), actions);
    expect(log).toEqual(['check i-1,i-2,i-3', 'suspend', 'out i-2', 'run site.yml on ec2-54-0-0-9,ec2-54-0-0-2', 'back i-2', 'resume HealthCheck,ReplaceUnhealthy']);
    expect(notes[0]).toBe('i-1, i-3: already as this deploy wants them, left in service');
  });

  it('takes no server out when every one is up to date, and still runs the other roles and the database play on the first', async () => {
    const { log, actions } = recorder();
    actions.findUpToDate = async () => new Set(['i-1', 'i-2', 'i-3']);
    await runRollingDeploy(plan(3), actions);
    expect(log).toEqual(['run site.yml on ec2-54-0-0-9,ec2-54-0-0-1']);
  });

  it('updates a server out of service even when its files are up to date: the health check says whether it serves', async () => {
    const { log, actions } = recorder();
    actions.findUpToDate = async () => new Set(['i-1', 'i-2', 'i-3']);
    await runRollingDeploy(plan(3, { notServing: new Set(['i-2']) }), actions);
    expect(log).toEqual(['suspend', 'out i-2', 'run site.yml on ec2-54-0-0-9,ec2-54-0-0-2', 'back i-2', 'resume HealthCheck,ReplaceUnhealthy']);
  });

  it('stops at the first failed batch, leaves the rest untouched, registers the failed batch again and resumes', async () => {
    const { log, actions } = recorder(2);
    const error = await runRollingDeploy(plan(3), actions).catch((e: unknown) => e as Error & { code?: string });
    expect(error).toBeInstanceOf(Error);
    expect(error?.code).toBe('FAILED');
    expect(error?.message).toBe(
      'the rolling deploy stopped at batch 2 of 3 (i-2); i-3 were not touched and still serve the previous release: ' +
        'TASK [app : Start uWSGI] failed on ec2-54-0-0-2. Run argos staging rollback, or fix it and deploy again.',
    );
    expect(log).toEqual(['suspend', 'out i-1', 'run site.yml on ec2-54-0-0-9,ec2-54-0-0-1', 'back i-1', 'out i-2', 'run app.yml on ec2-54-0-0-2', 'register i-2', 'resume HealthCheck,ReplaceUnhealthy']);
  });

  it('re-registers what it took out and resumes when interrupted while waiting for a batch to serve', async () => {
    const { log, actions } = recorder();
    const interrupted = { ...actions, putBack: async (ids: readonly string[]) => {
      log.push(`back ${ids.join(',')}`);
      throw new Error('interrupted');
    } };
    await expect(runRollingDeploy(plan(2, { batch: { percent: 100 } }), interrupted)).rejects.toThrow('interrupted');
    expect(log.slice(-2)).toEqual(['register i-1,i-2', 'resume HealthCheck,ReplaceUnhealthy']);
  });
});

describe('readRotationSettings', () => {
  const elbMock = mockClient(ElasticLoadBalancingClient);
  const elb = new ElasticLoadBalancingClient({ region: 'us-east-1' });
  const settingsWith = async (check: HealthCheck, draining: { Enabled: boolean; Timeout?: number }) => {
    elbMock.reset();
    elbMock.on(DescribeLoadBalancersCommand).resolves({ LoadBalancerDescriptions: [{ LoadBalancerName: 'argos-staging-elb', HealthCheck: check }] });
    elbMock.on(DescribeLoadBalancerAttributesCommand).resolves({ LoadBalancerAttributes: { ConnectionDraining: draining } });
    return readRotationSettings(elb, 'argos-staging-elb');
  };

  it('waits the 15 minutes every InService wait allows (docs/safety), even when the checks would pass far sooner', async () => {
    const settings = await settingsWith({ Target: 'HTTP:8000/health', Interval: 10, Timeout: 5, HealthyThreshold: 2, UnhealthyThreshold: 3 }, { Enabled: true, Timeout: 60 });
    expect(settings).toEqual({ healthCheckTarget: 'HTTP:8000/health', putBackTimeoutMs: 15 * 60_000, drainingTimeoutSeconds: 60 });
  });

  it('waits longer when twice HealthyThreshold checks take longer than that', async () => {
    // 2 × 10 × (300 + 60) s + 60 s = 7,260 s.
    const settings = await settingsWith({ Target: 'TCP:8000', Interval: 300, Timeout: 60, HealthyThreshold: 10, UnhealthyThreshold: 2 }, { Enabled: false });
    expect(settings).toEqual({ healthCheckTarget: 'TCP:8000', putBackTimeoutMs: 7_260_000, drainingTimeoutSeconds: 0 });
  });
});

describe('findUpToDate', () => {
  const hosts = [host(1), host(2), host(3)];

  it("reads the check's report: only the servers where nothing differs", async () => {
    const notes: string[] = [];
    const found = await findUpToDate(hosts, async (limit, report) => {
      expect(limit).toEqual(hosts.map((h) => h.address));
      await writeFile(report, JSON.stringify({ [host(1).address]: 'none', [host(2).address]: 'code', [host(3).address]: 'full' }));
    }, (line) => notes.push(line));
    expect([...found]).toEqual(['i-1']);
    expect(notes).toEqual([]);
  });

  it('finds none, and says so, when the check fails or writes no report', async () => {
    const notes: string[] = [];
    expect([...(await findUpToDate(hosts, async () => { throw new Error('UNREACHABLE! ec2-54-0-0-2\nmore'); }, (line) => notes.push(line)))]).toEqual([]);
    expect([...(await findUpToDate(hosts, async () => undefined, (line) => notes.push(line)))]).toEqual([]);
    expect(notes[0]).toBe('could not tell which app servers are already up to date (UNREACHABLE! ec2-54-0-0-2): updating every one');
    expect(notes).toHaveLength(2);
  });

  it('rethrows an interruption (Ctrl-C during the check) instead of going on with every server', async () => {
    const interrupted = new ArgosError('INTERRUPTED', 'interrupted while running playbooks/check.yml');
    await expect(findUpToDate(hosts, async () => { throw interrupted; }, () => undefined)).rejects.toBe(interrupted);
  });
});
