/**
 * A deploy starts ansible-playbook while its SSH wait logs in to the hosts,
 * and the run's gate play (playbooks/gate.yml) holds every task until the
 * wait has ended (src/playbook-gate.ts): Ansible's start-up and the logins
 * overlap. The real deploy code on the modelled account, whose runPlaybook
 * honours the gate as the real one does.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { mkdir, rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { commission } from '../../src/commands/commission.js';
import { deploy } from '../../src/commands/deploy.js';
import type { DeployOptions } from '../../src/options.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

let run: ModelledRun | undefined;
afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

/** `deploy --all-at-once --no-release-image` on the run's commissioned environment. */
async function deployInPlace(current: ModelledRun): Promise<void> {
  const options: DeployOptions = { config: current.ctx.options.config, verbose: false, yes: true, forceUnlock: false, sshCidr: undefined, sshConfig: undefined, roles: undefined, releaseImage: false, batch: undefined, allAtOnce: true, full: false };
  await deploy({ ...current.ctx, options, signal: new AbortController().signal });
}

describe('deploy: the playbooks start while SSH is waited for', () => {
  it('calls ansible-playbook before the SSH wait has ended, and runs no task before it has', async () => {
    // GIVEN a commissioned environment whose SSH probe takes 2 s
    run = await createModelledRun({ parameters: { sshProbeMs: 2_000 } });
    await commission(run.ctx);
    const calls = run.aws.playbookCalls.length;
    const runs = run.aws.playbookRuns.length;
    const waits = run.aws.sshWaits.length;
    // WHEN deploying
    await deployInPlace(run);
    // THEN site.yml was called while the wait ran, and started once it had ended
    const [wait, ...otherWaits] = run.aws.sshWaits.slice(waits);
    const [call] = run.aws.playbookCalls.slice(calls);
    const [site] = run.aws.playbookRuns.slice(runs);
    expect(otherWaits).toEqual([]);
    expect(call?.playbooks).toEqual(['site.yml']);
    expect(wait?.end).toBeDefined();
    expect(call?.at).toBeLessThan(wait?.end ?? 0);
    expect(site?.start).toBeGreaterThanOrEqual(wait?.end ?? Infinity);
  });

  it('a failed SSH wait stops the waiting playbooks before any task, and closes SSH', async () => {
    // GIVEN a commissioned environment whose app server then refuses SSH
    run = await createModelledRun();
    await commission(run.ctx);
    const [server] = run.aws.liveInstances().filter((instance) => instance.groupName === run?.ctx.names.appServers);
    run.aws.sshRefused.add(server?.id ?? '');
    const calls = run.aws.playbookCalls.length;
    const runs = run.aws.playbookRuns.length;
    // WHEN deploying
    const failure = deployInPlace(run);
    // THEN it fails on the wait, the playbooks were called but ran nothing, and no SSH rule is left
    // (the wait's own error leads; the playbooks are named as stopped, not as a cause)
    await expect(failure).rejects.toThrow(/^timed out after 10m00s waiting for SSH on .* to answer[^]*\(also: run the playbooks was stopped\)$/);
    expect(run.aws.playbookCalls.slice(calls).map((call) => call.playbooks)).toEqual([['site.yml']]);
    expect(run.aws.playbookRuns.slice(runs)).toEqual([]);
    expect(run.aws.temporarySshRules()).toEqual([]);
  });

  it('a wait step that fails before any login (its known_hosts unreadable) also stops the waiting playbooks', async () => {
    // GIVEN a commissioned environment whose known_hosts file is a directory
    run = await createModelledRun();
    await commission(run.ctx);
    await rm(run.ctx.paths.knownHostsFile, { force: true });
    await mkdir(run.ctx.paths.knownHostsFile, { recursive: true });
    const runs = run.aws.playbookRuns.length;
    // WHEN deploying: THEN it fails on the file (rather than the playbooks waiting at the gate for ever)
    await expect(deployInPlace(run)).rejects.toThrow(/EISDIR[^]*\(also: run the playbooks was stopped\)$/);
    expect(run.aws.playbookRuns.slice(runs)).toEqual([]);
    expect(run.aws.temporarySshRules()).toEqual([]);
  }, 20_000);
});
