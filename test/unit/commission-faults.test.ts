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

/** The security groups every environment has. */
const FOUR_GROUPS = ['argos-staging-app', 'argos-staging-broker', 'argos-staging-database', 'argos-staging-elb'];

/** The names of the environment's security groups in the modelled account, sorted. */
function environmentSecurityGroups(current: ModelledRun): string[] {
  return [...current.aws.state.securityGroups.values()].map((g) => g.name).filter((n) => n.startsWith('argos-')).sort();
}

/** The environment is complete, once, and nothing temporary is left. */
function expectCompleteAndClean(current: ModelledRun): void {
  const { state } = current.aws;
  const names = current.ctx.names;
  expect(environmentSecurityGroups(current)).toEqual(FOUR_GROUPS);
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
  // Instances launched from now on serve from boot: the group's template names the release image. The one
  // running has the app: launched from the release, or from the base image and deployed to.
  const releaseId = [...state.images.values()].find((image) => image.name.startsWith('argos-staging-release-') && !image.deregistered)?.id;
  expect([...state.launchTemplates.values()][0]?.data.ImageId).toBe(releaseId);
  expect(live[0]?.imageId === releaseId || live[0]?.appAt !== undefined).toBe(true);
  expect(state.groups.get(names.appServers)?.suspended.size).toBe(0);
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
  { step: 'wait for the app servers to serve', fault: 'Ctrl-C (their health replacement suspended)', inject: (r) => interruptAt(r, 1030 * SECOND) },
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
    // and no group is left with its health replacement suspended
    expect([...run.aws.state.groups.values()].filter((group) => group.suspended.size > 0).map((group) => group.name)).toEqual([]);
    between?.(run);
    // THEN a re-run completes the environment, once
    await rerun(run);
    expectCompleteAndClean(run);
  });
});

/** The environment with the broker and workers is complete, once, and nothing temporary is left. */
function expectCompleteWithWorkers(current: ModelledRun): void {
  const { state } = current.aws;
  const names = current.ctx.names;
  expect(environmentSecurityGroups(current)).toEqual([...FOUR_GROUPS, 'argos-staging-worker']);
  expect([...state.groups.keys()].sort()).toEqual([names.appServers, names.worker]);
  // One template per group, both from the one release image.
  const templates = [...state.launchTemplates.values()];
  expect(templates.map((template) => template.name.replace(/-[0-9a-f]{8}$/, '')).sort()).toEqual([names.appServers, names.worker]);
  const release = [...state.images.values()].filter((image) => image.name.startsWith('argos-staging-release-') && !image.deregistered);
  expect(release).toHaveLength(1);
  expect(new Set(templates.map((template) => template.data.ImageId))).toEqual(new Set([release[0]?.id]));
  expect([...state.policies.keys()].sort()).toEqual([`${names.appServers}-cpu-target`, `${names.worker}-cpu-target`]);
  const live = current.aws.liveInstances();
  const byGroup = (group: string) => live.filter((i) => i.tags.some((t) => t.Key === 'Group' && t.Value === group)).length;
  expect({ app: byGroup('app'), worker: byGroup('worker'), broker: byGroup('broker'), image: byGroup('image'), release: byGroup('release') }).toEqual({ app: 1, worker: 1, broker: 1, image: 0, release: 0 });
  expect(live).toHaveLength(3);
  expect(current.aws.temporarySshRules()).toEqual([]);
}

/** Whether a call's input names the workers (their group, template or policy), not the app servers. */
const forWorkers = (input: unknown): boolean => JSON.stringify(input).includes('argos-staging-worker');

/** A fault of the workers' rows: `failed` names the workers' call that must have failed (the fault hit them, not the app servers). */
type WorkerFault = Fault & { failed?: string };

/** Injects a failure of the workers' next `operation` call. */
const failWorkers = (operation: string): Pick<WorkerFault, 'inject' | 'failed'> => ({ inject: (r) => r.aws.failOnce(operation, 'InternalFailure', forWorkers), failed: operation });

const workerMatrix: WorkerFault[] = [
  { step: 'security groups', fault: "AWS error creating the workers' group", ...failWorkers('CreateSecurityGroup') },
  { step: 'workers', fault: 'AWS error on their launch template', ...failWorkers('CreateLaunchTemplate') },
  { step: 'workers', fault: 'AWS error on their group', ...failWorkers('CreateAutoScalingGroup') },
  { step: 'workers', fault: 'AWS error on their scaling policy', ...failWorkers('PutScalingPolicy') },
  { step: 'release image', fault: 'failing playbook (it holds the worker too)', inject: (r) => r.aws.failPlaybookOnce('site.yml') },
];

describe('commission --with-broker --with-workers fault matrix (step × fault → re-run)', () => {
  it.each(workerMatrix)('$step, $fault: the first run fails, the re-run completes with no duplicate and no leak', async ({ inject, between, failed }) => {
    // GIVEN a fresh account and one injected fault
    run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4, withBroker: true, withWorkers: true } });
    inject(run);
    // WHEN commission runs: it fails and says how to resume
    await expect(commission(run.ctx)).rejects.toThrow();
    expect(run.reporter.lines.some((line) => /Run `argos staging commission` again to continue/.test(line.message))).toBe(true);
    expect(run.aws.temporarySshRules()).toEqual([]);
    if (failed) expect(run.aws.calls.filter((call) => call.error !== undefined && call.operation === failed).map((call) => forWorkers(call.input))).toEqual([true]);
    between?.(run);
    // THEN a re-run completes the environment with its workers, once
    await rerun(run);
    expectCompleteWithWorkers(run);
  });
});
