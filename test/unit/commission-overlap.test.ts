/**
 * With aws-sdk-client-mock and a virtual clock: the database creation starts
 * before the image bake finishes (the steps overlap). The real commission runs
 * against a modelled AWS account (test/support/modelled-aws.ts) on an event
 * clock, so concurrent waits overlap in virtual time exactly as they would on
 * AWS, and each call's virtual start time shows the order.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateImageCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand } from '@aws-sdk/client-rds';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { commission } from '../../src/commands/commission.js';
import { EventClock } from '../support/event-clock.js';
import { createModelledRun, runTiming, type ModelledRun } from '../support/modelled-aws.js';

let run: ModelledRun | undefined;

afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

/** When the baked base image became available, in virtual ms (the model's own record). */
function imageAvailableAt(current: ModelledRun): number {
  const baked = [...current.aws.state.images.values()].filter((image) => image.own && image.name === current.ctx.names.image);
  expect(baked).toHaveLength(1);
  return baked[0]?.availableAt ?? Number.NaN;
}

/** Checks that the bake left nothing behind: no bake instance, no bake group, no temporary SSH rule. */
function expectNothingLeft(current: ModelledRun): void {
  const bakeInstances = [...current.aws.state.instances.values()].filter((instance) =>
    instance.tags.some((tag) => tag.Key === 'Group' && tag.Value === 'image'),
  );
  expect(bakeInstances).toHaveLength(1);
  expect(bakeInstances.map((instance) => current.aws.instanceState(instance))).toEqual(['terminated']);
  expect([...current.aws.state.securityGroups.values()].map((group) => group.name)).not.toContain(current.ctx.names.imageSecurityGroup);
  expect(current.aws.temporarySshRules()).toEqual([]);
  // ... nor a release build's instance or group
  const releaseInstances = [...current.aws.state.instances.values()].filter((instance) => instance.tags.some((tag) => tag.Key === 'Group' && tag.Value === 'release'));
  expect(releaseInstances.map((instance) => current.aws.instanceState(instance)).filter((state) => state !== 'terminated')).toEqual([]);
  expect([...current.aws.state.securityGroups.values()].map((group) => group.name)).not.toContain(current.ctx.names.releaseSecurityGroup);
}

describe('commission on a modelled AWS account', () => {
  it('starts the database while the image is still being baked, and takes well under the sequential time (--no-deploy)', async () => {
    // GIVEN an account with no image (only the base AMI, the key pair and the default VPC)
    run = await createModelledRun({ options: { deploy: false, minSize: 1, maxSize: 4 } });
    const { aws, reporter, clock, ctx } = run;
    expect([...aws.state.images.values()].filter((image) => image.own)).toEqual([]);

    // WHEN running commission --no-deploy
    await commission(ctx);
    const totalMs = clock.elapsed();

    // THEN the database was created before the bake's playbook ended and before the image was available
    const createDatabase = aws.firstCall('CreateDBInstance');
    const bakePlaybook = aws.playbookRuns.find((playbook) => playbook.playbooks.includes('image.yml'));
    expect(createDatabase).toBeDefined();
    expect(bakePlaybook?.end).toBeDefined();
    expect(createDatabase?.start).toBeLessThan(bakePlaybook?.start ?? 0);
    expect(createDatabase?.start).toBeLessThan(imageAvailableAt(run));
    expect(aws.firstCall('CreateImage')?.start).toBeGreaterThan(createDatabase?.start ?? Infinity);
    // ... the image and database steps overlap, and so does the load balancer
    const image = reporter.find('image ');
    const database = reporter.find('database ');
    const loadBalancer = reporter.find('load balancer ');
    expect(database?.start).toBeLessThan(image?.end ?? 0);
    expect(loadBalancer?.end).toBeLessThan(image?.end ?? 0);
    // ... the app servers waited for both
    const createGroup = aws.firstCall('CreateAutoScalingGroup');
    expect(createGroup?.start).toBeGreaterThanOrEqual(Math.max(image?.end ?? Infinity, database?.end ?? Infinity));
    // ... and the whole run took well under the steps one after another (the DB's 10 minutes are hidden in the bake)
    const timing = runTiming(reporter, totalMs);
    expect(timing.sequentialMs - totalMs).toBeGreaterThan(9 * 60_000);
    expect(totalMs / timing.sequentialMs).toBeLessThan(0.7);
    // ... each resource was made once; with no release image yet (--no-deploy of a new environment)
    // the app server has no app, so commission does not wait for the load balancer's health
    expect(aws.count('DescribeInstanceHealth')).toBe(0);
    expect(reporter.lines.at(-1)?.message).toContain('release:     none');
    expect(aws.mocks.rds).toHaveReceivedCommandTimes(CreateDBInstanceCommand, 1);
    expect(aws.mocks.ec2).toHaveReceivedCommandTimes(CreateImageCommand, 1);
    expect(aws.mocks.ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
    expect(aws.mocks.autoScaling).toHaveReceivedCommandTimes(CreateAutoScalingGroupCommand, 1);
    expect(reporter.lines.at(-1)?.message).toMatch(/^staging is commissioned\.\n {2}app URL: {5}http:\/\/argos-staging-elb-/);
    // The announced plan (shown as pending on a terminal) is the list of steps that ran.
    expect(reporter.planned).toHaveLength(9);
    expect(reporter.planned.filter((title) => !reporter.steps.some((step) => step.title === title))).toEqual([]);
    expect(aws.playbookRuns.map((playbook) => playbook.playbooks)).toEqual([['image.yml']]);
    // ... and the bake left nothing behind
    expectNothingLeft(run);
  });

  it('with the deploy: overlaps the same way, deploys once the app servers are in service, and closes SSH again', async () => {
    // GIVEN an account with no image
    run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 } });
    const { aws, reporter, clock, ctx } = run;

    // WHEN running commission (with its deploy)
    await commission(ctx);
    const totalMs = clock.elapsed();

    // THEN the database was created before the image was available
    const createDatabase = aws.firstCall('CreateDBInstance');
    expect(createDatabase?.start).toBeLessThan(imageAvailableAt(run));
    expect(createDatabase?.start).toBeLessThan(aws.playbookRuns[0]?.end ?? 0);
    // ... once the image and the database were ready, the group was created from the base image and
    // site.yml ran on its instance, while the release build ran site.yml on a temporary instance
    const servers = reporter.find('app servers ');
    const base = [...aws.state.images.values()].find((image) => image.name === ctx.names.image);
    const groupInstance = aws.liveInstances().find((instance) => instance.groupName);
    expect(groupInstance?.imageId).toBe(base?.id);
    // The model's public name of an instance (as EC2 names it from the public address).
    const hostName = `ec2-${(groupInstance?.publicIp ?? '').replaceAll('.', '-')}.compute-1.amazonaws.com`;
    expect(aws.playbookRuns.map((playbook) => playbook.playbooks)).toEqual([['image.yml'], ['site.yml'], ['site.yml']]);
    const [site, releaseRun] = [...aws.playbookRuns.slice(1)].sort((a, b) => Number(b.hosts.includes(hostName)) - Number(a.hosts.includes(hostName)));
    expect(site?.hosts).toEqual([hostName]);
    expect(releaseRun?.start).toBeGreaterThan(Math.max(imageAvailableAt(run), reporter.find('database ')?.end ?? Infinity));
    expect(aws.firstCall('CreateAutoScalingGroup')?.start).toBeGreaterThanOrEqual(imageAvailableAt(run));
    expect(site?.start).toBeGreaterThan(servers?.end ?? Infinity);
    // ... the two site.yml runs overlapped, and the app served before the release image was available
    expect(site?.start).toBeLessThan(releaseRun?.end ?? 0);
    const release = [...aws.state.images.values()].find((image) => image.name.startsWith('argos-staging-release-'));
    expect(aws.firstInServiceAt(ctx.names.loadBalancer)).toBeLessThan(release?.availableAt ?? 0);
    const hostsFile = await readFile(ctx.paths.hostsFile, 'utf8');
    expect(hostsFile).toContain(`db_host=${ctx.names.database}.`);
    expect(hostsFile).toContain(site?.hosts[0]);
    // ... the whole run took well under the steps one after another
    const timing = runTiming(reporter, totalMs);
    expect(timing.sequentialMs - totalMs).toBeGreaterThan(9 * 60_000);
    expect(totalMs / timing.sequentialMs).toBeLessThan(0.75);
    // ... and nothing temporary was left: no bake instance or group, no SSH rule
    expect(aws.count('RevokeSecurityGroupIngress')).toBe(1);
    expectNothingLeft(run);
  });
});

describe('EventClock (the virtual clock the runs above stand on)', () => {
  it('overlaps concurrent waits: time advances to the latest wake, not the sum', async () => {
    // GIVEN three branches: 600 s, 300 s, and two 100 s sleeps one after the other
    const clock = new EventClock();
    const signal = new AbortController().signal;
    const finished: [string, number][] = [];
    const done = (name: string) => () => finished.push([name, clock.elapsed()]);
    // WHEN they run at the same time
    await Promise.all([
      clock.sleep(600_000, signal).then(done('database')),
      clock.delay(300_000).then(done('image')),
      clock.sleep(100_000, signal).then(() => clock.sleep(100_000, signal)).then(done('two steps')),
    ]);
    // THEN each ends at its own time and the whole takes the longest
    expect(finished).toEqual([['two steps', 200_000], ['image', 300_000], ['database', 600_000]]);
    expect(clock.elapsed()).toBe(600_000);
  });

  it('rejects an aborted sleep with the signal\'s reason, without waiting for its wake', async () => {
    // GIVEN a 10-minute sleep and a 1-minute sleep
    const clock = new EventClock();
    const controller = new AbortController();
    const long = clock.sleep(600_000, controller.signal);
    // WHEN the run is interrupted after the minute
    await clock.delay(60_000);
    controller.abort(new Error('interrupted'));
    // THEN the long sleep fails with that reason and time stays at the minute
    await expect(long).rejects.toThrow('interrupted');
    expect(clock.elapsed()).toBe(60_000);
    expect(clock.pending()).toBe(0);
    await expect(clock.sleep(1, controller.signal)).rejects.toThrow('interrupted');
  });

  it('does not move time while real file I/O is in flight (it takes no virtual time)', async () => {
    // GIVEN one branch writing and reading back a file while another sleeps a minute
    const clock = new EventClock();
    const dir = await mkdtemp(join(tmpdir(), 'argos-event-clock-'));
    try {
      const sleeper = clock.sleep(60_000, new AbortController().signal);
      // WHEN the file work finishes
      await writeFile(join(dir, 'big'), Buffer.alloc(8 * 1024 * 1024, 1), { mode: 0o600 });
      await readFile(join(dir, 'big'));
      // THEN no virtual time passed meanwhile; the sleeper still wakes at its minute
      expect(clock.elapsed()).toBe(0);
      await sleeper;
      expect(clock.elapsed()).toBe(60_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
