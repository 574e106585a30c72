/**
 * The fault-injection matrix of commission: each step fails once (an AWS call,
 * a failing playbook, Ctrl-C during a wait, a resource removed between runs),
 * then a re-run on the same account completes the environment with nothing
 * duplicated and nothing leaked. The real commission code, a modelled AWS
 * account (aws-sdk-client-mock) and a virtual clock.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { commission } from '../../src/commands/commission.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

let run: ModelledRun | undefined;
afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

const SECOND = 1000;

/** Runs commission again with a fresh signal (a new process, as a user would re-run it). */
async function rerun(current: ModelledRun): Promise<void> {
  const controller = new AbortController();
  await commission({ ...current.ctx, signal: controller.signal });
}

/** Interrupts the run (as the first Ctrl-C does) at a virtual time. */
function interruptAt(current: ModelledRun, ms: number): void {
  void current.clock.sleep(ms, new AbortController().signal).then(() => current.controller.abort(new Error('interrupted')));
}

/** The environment is complete, once, and nothing temporary is left. */
function expectCompleteAndClean(current: ModelledRun): void {
  const { state } = current.aws;
  const names = current.ctx.names;
  expect([...state.securityGroups.values()].map((g) => g.name).filter((n) => n.startsWith('argos-')).sort()).toEqual([
    'argos-staging-app',
    'argos-staging-broker',
    'argos-staging-database',
    'argos-staging-elb',
  ]);
  // The base image and one release image (a half-made one of the failed run deregistered, or adopted).
  const own = [...state.images.values()].filter((image) => image.own && !image.deregistered).map((image) => image.name);
  expect(own).toHaveLength(2);
  expect(own[0]).toBe(names.image);
  expect(own[1]).toMatch(/^argos-staging-release-\d{8}T\d{6}Z$/);
  expect([...state.databases.keys()]).toEqual([names.database]);
  expect([...state.loadBalancers.keys()]).toEqual([names.loadBalancer]);
  expect([...state.groups.keys()]).toEqual([names.appServers]);
  expect(state.launchTemplates.size).toBe(1);
  const live = current.aws.liveInstances();
  expect(live.filter((i) => i.tags.some((t) => t.Key === 'Group' && (t.Value === 'image' || t.Value === 'release')))).toEqual([]);
  expect(live).toHaveLength(1); // min size 1
  // It serves from boot: launched from the release image.
  expect(live[0]?.imageId).toBe([...state.images.values()].find((image) => image.name.startsWith('argos-staging-release-') && !image.deregistered)?.id);
  expect(current.aws.temporarySshRules()).toEqual([]);
}

type Fault = { step: string; fault: string; inject: (current: ModelledRun) => void; between?: (current: ModelledRun) => void };

const matrix: Fault[] = [
  { step: 'security groups', fault: 'AWS error', inject: (r) => r.aws.failOnce('CreateSecurityGroup') },
  { step: 'image', fault: 'failing playbook', inject: (r) => r.aws.failPlaybookOnce('image.yml') },
  { step: 'image', fault: 'Ctrl-C during the playbook', inject: (r) => interruptAt(r, 200 * SECOND) },
  { step: 'image', fault: 'AWS error on CreateImage', inject: (r) => r.aws.failOnce('CreateImage') },
  { step: 'database', fault: 'AWS error', inject: (r) => r.aws.failOnce('CreateDBInstance') },
  { step: 'database', fault: 'Ctrl-C while it is created', inject: (r) => interruptAt(r, 30 * SECOND) },
  { step: 'load balancer', fault: 'AWS error', inject: (r) => r.aws.failOnce('CreateLoadBalancer') },
  { step: 'app servers', fault: 'AWS error', inject: (r) => r.aws.failOnce('CreateAutoScalingGroup') },
  { step: 'release image', fault: 'failing playbook', inject: (r) => r.aws.failPlaybookOnce('site.yml') },
  { step: 'release image', fault: 'Ctrl-C while the image is created', inject: (r) => interruptAt(r, 1150 * SECOND) },
  { step: 'app servers', fault: 'Ctrl-C while waiting for InService', inject: (r) => interruptAt(r, 1400 * SECOND) },
  { step: 'deploy', fault: 'failing playbook', inject: (r) => r.aws.failPlaybookOnce('site.yml', 1) },
  {
    step: 'app servers',
    fault: 'load balancer removed between the runs',
    inject: (r) => r.aws.failOnce('CreateAutoScalingGroup'),
    between: (r) => r.aws.state.loadBalancers.clear(),
  },
];

describe('commission fault matrix (step × fault → re-run)', () => {
  it.each(matrix)('$step, $fault: the first run fails, the re-run completes with no duplicate and no leak', async ({ inject, between }) => {
    // GIVEN a fresh account and one injected fault
    run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 } });
    inject(run);
    // WHEN commission runs: it fails (or is interrupted) and says how to resume
    await expect(commission(run.ctx)).rejects.toThrow();
    expect(run.reporter.lines.some((line) => /Run `argos staging commission` again to continue/.test(line.message))).toBe(true);
    // and nothing temporary is left behind even then
    expect(run.aws.temporarySshRules()).toEqual([]);
    expect(run.aws.liveInstances().filter((i) => i.tags.some((t) => t.Key === 'Group' && (t.Value === 'image' || t.Value === 'release')))).toEqual([]);
    between?.(run);
    // THEN a re-run completes the environment, once
    await rerun(run);
    expectCompleteAndClean(run);
  });
});
