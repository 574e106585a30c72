/**
 * Release images (issue 16) on the modelled AWS (virtual clock), with the real
 * command code: commission builds one before the group so its instances serve
 * from boot; a failure or Ctrl-C while one is made leaks nothing and a re-run
 * continues; deploy builds the next one beside the in-place deploy and makes
 * it live; retention; rollback; status. And the model itself: a group on the
 * base image never serves and replaces its unhealthy instances.
 */
import { CreateImageCommand, CreateSecurityGroupCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForInService } from '../../src/autoscaling.js';
import { commission } from '../../src/commands/commission.js';
import { deploy } from '../../src/commands/deploy.js';
import { rollback, selectRollbackTarget } from '../../src/commands/rollback.js';
import { gatherStatus } from '../../src/commands/status.js';
import type { Context } from '../../src/context.js';
import type { DeployOptions, RollbackOptions } from '../../src/options.js';
import { makeTags, toTagSpecifications } from '../../src/names.js';
import { selectExpiredReleases, type ReleaseImage } from '../../src/release.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

let run: ModelledRun | undefined;
afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** The deploy of the modelled run's environment, as `argos staging deploy [flags]` builds it. */
function deployCtx(current: ModelledRun, options: Partial<DeployOptions> = {}, signal = new AbortController().signal): Context<DeployOptions> {
  return {
    ...current.ctx,
    signal,
    options: { config: current.ctx.options.config, verbose: false, yes: true, forceUnlock: false, sshCidr: undefined, sshConfig: undefined, roles: undefined, releaseImage: true, batch: undefined, allAtOnce: false, full: false, ...options },
  };
}

function rollbackCtx(current: ModelledRun, options: Partial<RollbackOptions> = {}): Context<RollbackOptions> {
  return { ...current.ctx, signal: new AbortController().signal, options: { config: current.ctx.options.config, verbose: false, yes: true, forceUnlock: false, dryRun: false, to: undefined, ...options } };
}

/** The model's release images (not deregistered), oldest first. */
function releases(current: ModelledRun) {
  return [...current.aws.state.images.values()].filter((image) => image.name.startsWith('argos-staging-release-') && !image.deregistered);
}

/** The image the group's launch template launches from. */
function liveImageId(current: ModelledRun): string | undefined {
  const group = current.aws.state.groups.get(current.ctx.names.appServers);
  return group ? current.aws.state.launchTemplates.get(group.templateName)?.data.ImageId : undefined;
}

/** The group's instances not terminated or terminating. */
function groupInstances(current: ModelledRun) {
  return current.aws.liveInstances().filter((instance) => instance.groupName && instance.terminatedAt === undefined);
}

/** Nothing of a release build is left: no temporary instance running, no temporary group. */
function expectNoReleaseBuildLeft(current: ModelledRun): void {
  const temporary = current.aws.liveInstances().filter((instance) => instance.tags.some((tag) => tag.Key === 'Group' && tag.Value === 'release'));
  expect(temporary.filter((instance) => instance.terminatedAt === undefined)).toEqual([]);
  expect([...current.aws.state.securityGroups.values()].map((group) => group.name)).not.toContain(current.ctx.names.releaseSecurityGroup);
  expect(current.aws.temporarySshRules()).toEqual([]);
}

/** Aborts `controller` `afterMs` after the `nth` call of `operation` (bounded: gives up after 3 virtual hours). */
function interruptAfterCall(current: ModelledRun, controller: AbortController, operation: string, nth: number, afterMs: number): void {
  void (async () => {
    while (current.aws.count(operation) < nth && current.clock.elapsed() < 3 * 60 * MINUTE) await current.clock.delay(SECOND);
    await current.clock.delay(afterMs);
    controller.abort(new Error('interrupted'));
  })();
}

describe('the modelled AWS: InService needs the app', () => {
  it('a group launched from the base image never serves: the wait times out after 15 minutes and the group replaces its unhealthy instances', async () => {
    // GIVEN commission --no-deploy of a new environment: the group launches from the base image (no app)
    run = await createModelledRun({ options: { deploy: false } });
    await commission(run.ctx);
    const first = groupInstances(run).map((instance) => instance.id);
    expect(first).toHaveLength(1);
    // WHEN waiting for an instance in service, as the old commission did before its deploy
    const wait = waitForInService(run.aws.clients.autoScaling, run.aws.clients.elb, { groupName: run.ctx.names.appServers, loadBalancerName: run.ctx.names.loadBalancer, count: 1, healthCheckTarget: 'HTTP:8000/' }, { signal: new AbortController().signal, clock: run.clock });
    // THEN it fails at 15 minutes (the failure issue 16 describes), naming the check
    const error = (await wait.catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: "TIMEOUT", message: expect.stringContaining("The load balancer's health check HTTP:8000/ fails on") });
    // ... and meanwhile the group terminated the first instance as unhealthy after its grace period and launched others
    const terminated = [...run.aws.state.instances.values()].filter((instance) => instance.unhealthy);
    expect(terminated.map((instance) => instance.id)).toContain(first[0]);
    expect(terminated.every((instance) => (instance.terminatedAt ?? 0) - instance.launchedAt >= 300 * SECOND)).toBe(true);
    expect(groupInstances(run)).toHaveLength(1);
  });
});

describe('commission with a release image', () => {
  it('builds the release image on a temporary instance while the deploy configures the group launched from the base image, then the group launches from the release', async () => {
    run = await createModelledRun();
    await commission(run.ctx);
    const [release] = releases(run);
    // The release image: named by UTC time, tagged like everything else plus its git ref and name.
    expect(release?.name).toMatch(/^argos-staging-release-\d{8}T\d{6}Z$/);
    expect(release?.tags).toEqual(
      expect.arrayContaining([
        { Key: 'App', Value: 'argos' },
        { Key: 'Env', Value: 'staging' },
        { Key: 'Group', Value: 'release' },
        { Key: 'ManagedBy', Value: 'argos' },
        { Key: 'argos:git-ref', Value: 'master' },
        { Key: 'argos:release', Value: release?.name },
      ]),
    );
    // ... made from a temporary instance of the base image that joined the app servers' group (to reach the database)
    const temporary = [...run.aws.state.instances.values()].find((instance) => instance.tags.some((tag) => tag.Key === 'Group' && tag.Value === 'release'));
    const base = [...run.aws.state.images.values()].find((image) => image.name === 'argos-image');
    expect(temporary?.imageId).toBe(base?.id);
    expect(temporary?.securityGroupIds.map((id) => run?.aws.state.securityGroups.get(id)?.name)).toContain('argos-staging-app');
    // ... by site.yml with the temporary instance as its one host, with the database password in a vars file
    const [, build] = run.aws.playbookRuns;
    expect(build?.playbooks).toEqual(['site.yml']);
    expect(build?.hosts).toHaveLength(1);
    // ... while the group's first instance, launched from the base image, got the app from the deploy's site.yml
    // and then served: the wait for InService came after the app was on it
    const [serving] = groupInstances(run);
    expect(serving?.imageId).toBe(base?.id);
    const inPlace = run.aws.playbookRuns.find((candidate) => candidate !== build && candidate.playbooks.includes('site.yml'));
    expect(inPlace?.hosts).toHaveLength(1);
    expect(serving?.appAt).toBe(inPlace?.end);
    const firstHealth = run.aws.calls.find((call) => call.operation === 'DescribeInstanceHealth');
    expect(firstHealth?.start).toBeGreaterThanOrEqual(serving?.appAt ?? Infinity);
    // ... the group's health replacement was suspended until then, and resumed
    expect(run.aws.calls.filter((call) => /^(Suspend|Resume)Processes$/.test(call.operation)).map((call) => call.operation)).toEqual(['SuspendProcesses', 'ResumeProcesses']);
    expect(run.aws.state.groups.get(run.ctx.names.appServers)?.suspended.size).toBe(0);
    // ... and the group launches from the release image from then on
    expect(liveImageId(run)).toBe(release?.id);
    expect(run.reporter.lines.at(-1)?.message).toMatch(/release: {5}argos-staging-release-\d{8}T\d{6}Z \(ami-\S+, git ref master\)/);
    expectNoReleaseBuildLeft(run);
  });

  it('Ctrl-C while CreateImage of the release runs: the half-made image is deregistered, the temporary instance and group removed; the re-run builds it and completes', async () => {
    run = await createModelledRun();
    // GIVEN a Ctrl-C one minute into the release's CreateImage (the second CreateImage: the first is the base image)
    interruptAfterCall(run, run.controller, 'CreateImage', 2, MINUTE);
    // WHEN commission runs
    await expect(commission(run.ctx)).rejects.toThrow('interrupted');
    // THEN the half-made release image is gone, and nothing of the build is left
    expect(run.aws.count('DeregisterImage')).toBe(1);
    expect(releases(run)).toEqual([]);
    // (the app servers, deployed to, already served: the release image is off that path) with nothing left suspended
    expect([...run.aws.state.groups.values()].map((group) => group.suspended.size)).toEqual([0]);
    expectNoReleaseBuildLeft(run);
    // WHEN commission runs again
    await commission({ ...run.ctx, signal: new AbortController().signal });
    // THEN it builds the release image once more, and the group launches from it
    expect(releases(run)).toHaveLength(1);
    expect(liveImageId(run)).toBe(releases(run)[0]?.id);
    expect(groupInstances(run).every((instance) => instance.appAt !== undefined)).toBe(true);
    expectNoReleaseBuildLeft(run);
  });

  it('a failing release playbook: no image is made, nothing is left, and the re-run continues', async () => {
    run = await createModelledRun();
    run.aws.failPlaybookOnce('site.yml');
    await expect(commission(run.ctx)).rejects.toThrow(/site\.yml failed \(injected fault\)/);
    expect(run.aws.count('CreateImage')).toBe(1); // the base image only
    expectNoReleaseBuildLeft(run);
    await commission({ ...run.ctx, signal: new AbortController().signal });
    expect(releases(run)).toHaveLength(1);
    expectNoReleaseBuildLeft(run);
  });

  it("a killed run's release image still being created is adopted by the re-run, and its temporary instance removed", async () => {
    // GIVEN an environment on the base image (commission --no-deploy), and what a build killed during
    // CreateImage leaves: its temporary instance (with the app) and group, and a pending release image
    run = await createModelledRun({ options: { deploy: false } });
    await commission(run.ctx);
    const { aws, ctx } = run;
    const { ec2 } = aws.clients;
    const base = [...aws.state.images.values()].find((image) => image.name === 'argos-image');
    const name = 'argos-staging-release-20260101T000000Z';
    const tags = makeTags({ app: 'argos', env: 'staging', group: 'release' }, name);
    const group = await ec2.send(new CreateSecurityGroupCommand({ GroupName: ctx.names.releaseSecurityGroup, Description: 'killed build', VpcId: aws.state.vpcId, TagSpecifications: toTagSpecifications(['security-group'] as const, tags) }));
    const launched = await ec2.send(new RunInstancesCommand({ ImageId: base?.id, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, SecurityGroupIds: [group.GroupId ?? ''], TagSpecifications: toTagSpecifications(['instance'] as const, tags) }));
    const temporary = aws.state.instances.get(launched.Instances?.[0]?.InstanceId ?? '');
    if (!temporary) throw new Error('the model launched no instance');
    await run.clock.delay(2 * MINUTE);
    temporary.appAt = aws.t(); // its playbooks had finished: CreateImage comes only after them
    await ec2.send(new CreateImageCommand({ InstanceId: temporary.id, Name: name, TagSpecifications: toTagSpecifications(['image'] as const, [...tags, { Key: 'argos:git-ref', Value: 'master' }]) }));
    const creates = aws.count('CreateImage');
    // WHEN commission runs again (with the deploy)
    await commission({ ...ctx, options: { ...ctx.options, deploy: true }, signal: new AbortController().signal });
    // THEN it waited for that image instead of building another, moved the group onto it, and removed the leftovers
    expect(aws.count('CreateImage')).toBe(creates);
    const [adopted] = releases(run);
    expect(adopted?.name).toBe(name);
    expect(liveImageId(run)).toBe(adopted?.id);
    expect(groupInstances(run).every((instance) => instance.appAt !== undefined)).toBe(true);
    expect(aws.instanceState(temporary)).not.toBe('running');
    expectNoReleaseBuildLeft(run);
  });
});

describe('deploy with a release image', () => {
  it('builds the next release while the playbooks run in place, then makes it live without replacing the instance deployed to', async () => {
    // GIVEN a commissioned environment
    run = await createModelledRun();
    await commission(run.ctx);
    const [first] = releases(run);
    const [serving] = groupInstances(run);
    const runsBefore = run.aws.playbookRuns.length;
    // WHEN deploying
    await deploy(deployCtx(run));
    // THEN a second release was built on a temporary instance at the same time as the in-place site.yml
    const [build, inPlace] = run.aws.playbookRuns.slice(runsBefore).sort((a, b) => a.hosts.length - b.hosts.length || a.start - b.start);
    const stepOf = (title: string) => run?.reporter.steps.find((step) => step.title === title && step.start >= (run?.reporter.find('release image')?.start ?? 0));
    expect(run.aws.playbookRuns.slice(runsBefore)).toHaveLength(2);
    expect(build?.hosts).not.toEqual(inPlace?.hosts);
    const releaseStep = run.reporter.steps.filter((step) => step.title === 'release image').at(-1);
    const playbooksStep = run.reporter.steps.filter((step) => step.title === 'run the playbooks').at(-1);
    expect(releaseStep?.start).toBeLessThan(playbooksStep?.end ?? 0);
    expect(playbooksStep?.start).toBeLessThan(releaseStep?.end ?? 0);
    expect(stepOf('point the app servers at the new release')?.start).toBeGreaterThanOrEqual(Math.max(releaseStep?.end ?? Infinity, playbooksStep?.end ?? Infinity));
    // ... the launch template launches from it now
    const all = releases(run);
    expect(all).toHaveLength(2);
    const second = all.find((image) => image.id !== first?.id);
    expect(liveImageId(run)).toBe(second?.id);
    // ... and the instance deployed to in place kept serving: not replaced
    expect(groupInstances(run).map((instance) => instance.id)).toEqual([serving?.id]);
    expectNoReleaseBuildLeft(run);
  });

  it('replaces an instance launched from the previous release while the deploy ran', async () => {
    run = await createModelledRun();
    await commission(run.ctx);
    const [deployedTo] = groupInstances(run);
    const current = run;
    const runsBefore = run.aws.playbookRuns.length;
    // GIVEN a scale-out to 2 while the in-place playbooks run (the new instance boots the previous release)
    void (async () => {
      while (current.aws.playbookRuns.length < runsBefore + 2 && current.clock.elapsed() < 3 * 60 * MINUTE) await current.clock.delay(SECOND);
      const group = current.aws.state.groups.get(current.ctx.names.appServers);
      if (group) group.desired = 2;
    })();
    // WHEN deploying
    await deploy(deployCtx(run));
    // THEN the instance launched during the deploy was replaced from the new release; the one deployed to stays
    const newRelease = liveImageId(run);
    const instances = groupInstances(run);
    expect(instances).toHaveLength(2);
    expect(instances.map((instance) => instance.id)).toContain(deployedTo?.id);
    const other = instances.find((instance) => instance.id !== deployedTo?.id);
    expect(other?.imageId).toBe(newRelease);
    const replaced = [...run.aws.state.instances.values()].filter((instance) => instance.groupName && instance.terminatedAt !== undefined && !instance.unhealthy);
    expect(replaced.map((instance) => instance.imageId)).toEqual([releases(run).find((image) => image.id !== newRelease)?.id]);
  });

  it('--no-release-image: deploys in place, builds no image, and says later instances run the previous release', async () => {
    run = await createModelledRun();
    await commission(run.ctx);
    const creates = run.aws.count('CreateImage');
    await deploy(deployCtx(run, { releaseImage: false }));
    expect(run.aws.count('CreateImage')).toBe(creates);
    expect(run.reporter.lines.some((line) => /--no-release-image: instances launched later \(scale-out, replacements\) run the previous release argos-staging-release-\d{8}T\d{6}Z \(git ref master\)/.test(line.message))).toBe(true);
    expect(run.aws.playbookRuns.at(-1)?.playbooks).toEqual(['site.yml']);
  });

  it('keeps release_images_kept release images and deletes older ones with their snapshots, never the live one nor one an instance runs from', async () => {
    run = await createModelledRun({ config: { release_images_kept: 2 } });
    await commission(run.ctx);
    // GIVEN a second app server the group launched from the first release (the first was deployed to in place)
    const [first] = releases(run);
    const group = run.aws.state.groups.get(run.ctx.names.appServers);
    if (!group) throw new Error('no group');
    group.desired = 2;
    // The group reconciles (launches) at each call; then its new instance boots and serves.
    await gatherStatus(run.ctx);
    await run.clock.delay(5 * MINUTE);
    const scaled = groupInstances(run).find((instance) => instance.imageId === first?.id);
    expect(scaled).toBeDefined();
    // WHEN deploying three times (four releases in all)
    await deploy(deployCtx(run, { allAtOnce: true }));
    const [, second] = releases(run);
    const secondSnapshots = [...(second?.snapshotIds ?? [])];
    expect(secondSnapshots).toHaveLength(1);
    await deploy(deployCtx(run, { allAtOnce: true }));
    await deploy(deployCtx(run, { allAtOnce: true }));
    // THEN the second was deregistered and its snapshot deleted; the first stays (an instance runs from it),
    // the newest two are kept and the newest is live
    const kept = releases(run);
    expect(kept.map((image) => image.id)).not.toContain(second?.id);
    expect(kept.map((image) => image.id)).toContain(first?.id);
    expect(groupInstances(run).map((instance) => instance.id)).toContain(scaled?.id);
    expect(kept).toHaveLength(3);
    expect(run.aws.state.images.get(second?.id ?? '')?.deregistered).toBe(true);
    const deletedSnapshots = run.aws.calls.filter((call) => call.operation === 'DeleteSnapshot').map((call) => (call.input as { SnapshotId?: string }).SnapshotId);
    expect(deletedSnapshots).toEqual(secondSnapshots);
    expect(liveImageId(run)).toBe(kept.at(-1)?.id);
  });
});

describe('selectExpiredReleases', () => {
  const release = (name: string, state = 'available'): ReleaseImage => ({ imageId: `ami-${name}`, name, state, gitRef: 'main', created: '', snapshotIds: [], hasWorker: true });
  // Newest first, as findReleaseImages returns them.
  const all = [release('r5'), release('r4', 'pending'), release('r3'), release('r2'), release('r1')];

  it('keeps the newest available ones and never a pending one', () => {
    expect(selectExpiredReleases(all, 2, new Set()).map((r) => r.name)).toEqual(['r2', 'r1']);
  });

  it('never deletes the live one or one an instance runs from', () => {
    expect(selectExpiredReleases(all, 2, new Set(['ami-r1'])).map((r) => r.name)).toEqual(['r2']);
  });
});

describe('rollback', () => {
  it('goes back to the previous release with a surge replacement: never fewer in service than before', async () => {
    // GIVEN two releases, the second live
    run = await createModelledRun();
    await commission(run.ctx);
    const [first] = releases(run);
    await deploy(deployCtx(run));
    const before = groupInstances(run).map((instance) => instance.id);
    const inService = () => run?.aws.liveInstances().filter((instance) => instance.groupName && instance.terminatedAt === undefined && instance.appAt !== undefined && (run?.aws.t() ?? 0) >= Math.max(instance.launchedAt + 180 * SECOND, instance.appAt + 20 * SECOND)).length ?? 0;
    let fewest = Infinity;
    const current = run;
    let watching = true;
    void (async () => {
      while (watching) {
        fewest = Math.min(fewest, inService());
        await current.clock.delay(5 * SECOND);
      }
    })();
    // WHEN rolling back
    await rollback(rollbackCtx(run));
    watching = false;
    // THEN the launch template launches from the first release, every app server was replaced from it, and
    // at no point fewer instances were in service than before
    expect(liveImageId(run)).toBe(first?.id);
    const after = groupInstances(run);
    expect(after.map((instance) => instance.imageId)).toEqual([first?.id]);
    expect(after.map((instance) => instance.id)).not.toContain(before[0]);
    expect(fewest).toBeGreaterThanOrEqual(before.length);
    // ... and status says which release is live and which each instance runs
    const status = await gatherStatus(run.ctx);
    expect(status.releases.map((release) => [release.imageId, release.live])).toEqual(releases(run).map((image) => [image.id, image.id === first?.id]).reverse());
    expect(status.releases[0]?.gitRef).toBe('master');
    const row = status.resources.find((candidate) => candidate.kind === 'app instance' && candidate.id === after[0]?.id);
    expect(row?.detail).toBe(`load balancer: InService; launched from release ${first?.name}`);
  });

  it('--to names a release by name or AMI id; the live one, an unknown one, or no previous one is a clear error', () => {
    const release = (name: string): ReleaseImage => ({ imageId: `ami-${name}`, name: `argos-staging-release-${name}`, state: 'available', gitRef: name, created: '', snapshotIds: [], hasWorker: true });
    const [r3, r2, r1] = [release('3'), release('2'), release('1')];
    const all = [r3, r2, r1].filter((r): r is ReleaseImage => r !== undefined);
    expect(selectRollbackTarget('staging', all, 'ami-3', undefined).release).toBe(r2);
    expect(selectRollbackTarget('staging', all, 'ami-3', 'argos-staging-release-1').release).toBe(r1);
    expect(selectRollbackTarget('staging', all, 'ami-3', 'ami-1').release).toBe(r1);
    expect(() => selectRollbackTarget('staging', all, 'ami-3', 'ami-3')).toThrow(/is already live in staging/);
    expect(() => selectRollbackTarget('staging', all, 'ami-3', 'ami-9')).toThrow(/ami-9 is not an available release image of staging \(not found\); its release images: argos-staging-release-3 \(live\), argos-staging-release-2, argos-staging-release-1/);
    expect(() => selectRollbackTarget('staging', all, 'ami-1', undefined)).toThrow(/no previous release of staging to roll back to: argos-staging-release-1 is live and no older release image is kept/);
    expect(() => selectRollbackTarget('staging', [], 'ami-base', undefined)).toThrow(/the app servers do not launch from a release image/);
  });

  it('--dry-run says what it would do and changes nothing; with one release there is nothing to roll back to', async () => {
    run = await createModelledRun();
    await commission(run.ctx);
    await expect(rollback(rollbackCtx(run))).rejects.toMatchObject({ code: 'FAILED', message: expect.stringMatching(/^no previous release of staging/) });
    await deploy(deployCtx(run));
    const live = liveImageId(run);
    const calls = run.aws.calls.length;
    await rollback(rollbackCtx(run, { dryRun: true }));
    expect(liveImageId(run)).toBe(live);
    expect(run.aws.calls.slice(calls).map((call) => call.operation).filter((operation) => !operation.startsWith('Describe'))).toEqual([]);
    expect(run.reporter.lines.some((line) => /point the launch template of argos-staging-app at argos-staging-release-/.test(line.message))).toBe(true);
  });
});

describe('deploy that fails in place', () => {
  it('stops the release build it started: no release image is made, nothing is left, the live release stays', async () => {
    run = await createModelledRun();
    await commission(run.ctx);
    const live = liveImageId(run);
    const creates = run.aws.count('CreateImage');
    // GIVEN the in-place site.yml fails half-way (it starts first: the release build waits for its instance to boot)
    run.aws.failPlaybookOnce('site.yml');
    // WHEN deploying
    await expect(deploy(deployCtx(run))).rejects.toThrow(/site\.yml failed \(injected fault\)/);
    // THEN the release build was stopped before its image, and removed what it had made
    expect(run.aws.count('CreateImage')).toBe(creates);
    expect(releases(run)).toHaveLength(1);
    expect(liveImageId(run)).toBe(live);
    expect(run.reporter.steps.find((step) => step.title === 'point the app servers at the new release')).toBeUndefined();
    expectNoReleaseBuildLeft(run);
  });
});
