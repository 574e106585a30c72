/**
 * The local cloud's autoscaling health decision (issue 14, point 6): which InService
 * instances AWS would replace, given EC2's states, the load balancer's verdicts and
 * the grace period, on a fake clock (the time is an argument).
 */
import { describe, expect, it } from 'vitest';
import { decideReplacements, type GroupHealthFacts, type InstanceFacts, type VerdictOf } from '../../localcloud/asg-health.js';

const LAUNCH = new Date('2026-01-01T00:00:00Z');
const at = (seconds: number): Date => new Date(LAUNCH.getTime() + seconds * 1000);
const running: InstanceFacts = { state: 'running', launchTime: LAUNCH };

function group(overrides: Partial<GroupHealthFacts> = {}): GroupHealthFacts {
  return {
    name: 'shop-prod-app', healthCheckType: 'ELB', gracePeriodSeconds: 300, loadBalancerNames: ['shop-prod'],
    instances: [{ instanceId: 'i-1', lifecycleState: 'InService' }],
    ...overrides,
  };
}
const outOfService: VerdictOf = () => 'OutOfService';
const inService: VerdictOf = () => 'InService';

describe('decideReplacements', () => {
  it('leaves an OutOfService instance alone during the grace period and replaces it once the period is over', () => {
    const ec2 = new Map([['i-1', running]]);
    expect(decideReplacements([group()], ec2, outOfService, at(299))).toEqual([]);
    expect(decideReplacements([group()], ec2, outOfService, at(300))).toEqual([{
      groupName: 'shop-prod-app', instanceId: 'i-1', cause: 'elb-health',
      description: 'an ELB health check indicated that instance i-1 is OutOfService in load balancer shop-prod',
    }]);
  });

  it('replaces nothing while the group has HealthCheck or ReplaceUnhealthy suspended (a rolling deploy)', () => {
    const ec2 = new Map([['i-1', running]]);
    expect(decideReplacements([group({ suspendedProcesses: ['HealthCheck'] })], ec2, outOfService, at(3600))).toEqual([]);
    expect(decideReplacements([group({ suspendedProcesses: ['ReplaceUnhealthy'] })], ec2, outOfService, at(3600))).toEqual([]);
    expect(decideReplacements([group({ suspendedProcesses: ['AZRebalance'] })], ec2, outOfService, at(3600))).toHaveLength(1);
  });

  it('keeps InService and unknown instances', () => {
    const ec2 = new Map([['i-1', running]]);
    expect(decideReplacements([group()], ec2, inService, at(3600))).toEqual([]);
    expect(decideReplacements([group()], ec2, () => 'Unknown', at(3600))).toEqual([]);
    expect(decideReplacements([group()], ec2, () => undefined, at(3600))).toEqual([]);
  });

  it('ignores the load balancer for an EC2 group but not EC2 status checks', () => {
    const ec2Group = group({ healthCheckType: 'EC2' });
    expect(decideReplacements([ec2Group], new Map([['i-1', running]]), outOfService, at(3600))).toEqual([]);
    const stopped = decideReplacements([ec2Group], new Map([['i-1', { ...running, state: 'stopped' }]]), inService, at(1));
    expect(stopped.map((r) => [r.instanceId, r.cause])).toEqual([['i-1', 'ec2-status']]);
    expect(stopped[0]?.description).toMatch(/is stopped$/);
  });

  it('replaces a terminated or vanished instance of an ELB group at once, grace period or not', () => {
    const terminated = decideReplacements([group()], new Map([['i-1', { ...running, state: 'terminated' }]]), inService, at(1));
    expect(terminated.map((r) => r.cause)).toEqual(['ec2-status']);
    const gone = decideReplacements([group()], new Map(), inService, at(1));
    expect(gone.map((r) => r.description)).toEqual(['an EC2 health check indicated that instance i-1 is gone']);
  });

  it('never replaces an instance that is not InService in its group (Pending, Pending:Wait, Terminating, Standby)', () => {
    const states = ['Pending', 'Pending:Wait', 'Terminating', 'Terminating:Wait', 'Standby', 'Detaching'];
    const g = group({ instances: states.map((s, n) => ({ instanceId: `i-${String(n)}`, lifecycleState: s })) });
    const ec2 = new Map(states.map((_, n) => [`i-${String(n)}`, { ...running, state: 'terminated' }]));
    expect(decideReplacements([g], ec2, outOfService, at(3600))).toEqual([]);
  });

  it('does not judge a pending EC2 instance by its load balancer', () => {
    expect(decideReplacements([group()], new Map([['i-1', { ...running, state: 'pending' }]]), outOfService, at(3600))).toEqual([]);
  });

  it('makes one decision per instance, however many load balancers fail it, and names the first failing one', () => {
    const g = group({ loadBalancerNames: ['a', 'b', 'c'] });
    const verdictOf: VerdictOf = (lb) => (lb === 'a' ? 'InService' : 'OutOfService');
    const decided = decideReplacements([g, { ...g, name: 'again' }], new Map([['i-1', running]]), verdictOf, at(3600));
    expect(decided).toHaveLength(1);
    expect(decided[0]?.description).toMatch(/load balancer b$/);
    expect(decided[0]?.groupName).toBe('shop-prod-app');
  });

  it('judges each instance of a group on its own launch time', () => {
    const g = group({ instances: [{ instanceId: 'i-old', lifecycleState: 'InService' }, { instanceId: 'i-new', lifecycleState: 'InService' }] });
    const ec2 = new Map([['i-old', running], ['i-new', { state: 'running', launchTime: at(200) }]]);
    expect(decideReplacements([g], ec2, outOfService, at(400)).map((r) => r.instanceId)).toEqual(['i-old']);
  });
});
