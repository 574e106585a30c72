/**
 * A run killed while it had the app servers' health replacement suspended
 * (commission before its instances serve, a rolling deploy) cannot resume it:
 * the group would never replace a failed instance again. The group's
 * `argos:suspended-processes` tag says what such a run suspended; `status`
 * reports it and the next commission or deploy resumes it, never a process
 * the user suspended. The real commands on the modelled AWS account.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SUSPENDED_TAG, suspendHealthReplacement } from '../../src/autoscaling/rotation.js';
import { commission } from '../../src/commands/commission.js';
import { deploy } from '../../src/commands/deploy.js';
import { gatherStatus } from '../../src/commands/status.js';
import type { DeployOptions } from '../../src/options.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

let run: ModelledRun | undefined;
afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

/** A commissioned environment whose group has what a killed run leaves: its processes suspended (and tagged), never resumed. */
async function killedRunLeftovers(userSuspended: string[] = []): Promise<ModelledRun> {
  const current = await createModelledRun();
  await commission(current.ctx);
  const group = current.aws.state.groups.get(current.ctx.names.appServers);
  if (!group) throw new Error('no group');
  for (const process of userSuspended) group.suspended.add(process);
  await suspendHealthReplacement(current.aws.clients.autoScaling, current.ctx.names.appServers);
  return current;
}

function groupOf(current: ModelledRun) {
  const group = current.aws.state.groups.get(current.ctx.names.appServers);
  if (!group) throw new Error('no group');
  return { suspended: [...group.suspended].sort(), tagged: group.tags.some((tag) => tag.Key === SUSPENDED_TAG) };
}

describe('health replacement left suspended by a killed run', () => {
  it('status reports it as drift, and the next commission resumes it (with a warning)', async () => {
    run = await killedRunLeftovers();
    expect(groupOf(run)).toEqual({ suspended: ['HealthCheck', 'ReplaceUnhealthy'], tagged: true });
    const status = await gatherStatus(run.ctx);
    expect(status.drift).toContainEqual(expect.stringMatching(/^argos-staging-app has HealthCheck, ReplaceUnhealthy suspended by an argos run that did not finish .*: argos staging deploy or commission resumes it$/));
    await commission({ ...run.ctx, signal: new AbortController().signal });
    expect(groupOf(run)).toEqual({ suspended: [], tagged: false });
    expect(run.reporter.lines.some((line) => /resumed HealthCheck, ReplaceUnhealthy on argos-staging-app: an argos run that did not finish had left them suspended/.test(line.message))).toBe(true);
    expect((await gatherStatus(run.ctx)).drift).toEqual([]);
  });

  it('the next deploy resumes it; a process the user suspended stays suspended', async () => {
    // GIVEN the user had suspended ReplaceUnhealthy; the killed run suspended (and tagged) HealthCheck only
    run = await killedRunLeftovers(['ReplaceUnhealthy']);
    expect(groupOf(run)).toEqual({ suspended: ['HealthCheck', 'ReplaceUnhealthy'], tagged: true });
    const options: DeployOptions = { config: run.ctx.options.config, verbose: false, yes: true, forceUnlock: false, sshCidr: undefined, sshConfig: undefined, roles: undefined, releaseImage: false, batch: undefined, allAtOnce: true, full: false };
    await deploy({ ...run.ctx, options, signal: new AbortController().signal });
    expect(groupOf(run)).toEqual({ suspended: ['ReplaceUnhealthy'], tagged: false });
  });

  it('a run that finishes leaves no tag and nothing suspended', async () => {
    run = await createModelledRun();
    await commission(run.ctx);
    // commission suspended health replacement until its instances served, then resumed it
    expect(run.aws.count('SuspendProcesses')).toBe(1);
    expect(groupOf(run)).toEqual({ suspended: [], tagged: false });
  });
});
