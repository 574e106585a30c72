/**
 * Commission configures a new environment's app servers while its database is
 * still being created (src/commands/prepare-servers.ts): playbooks/prepare.yml
 * through its own temporary SSH window, closed before the deploy opens its own.
 * The real commission code on a modelled AWS account and a virtual clock, with
 * a database slower than the image bake (20 min), so that the app servers run
 * long before it is available.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { commission } from '../../src/commands/commission.js';
import { createModelledRun, type ModelledRun } from '../support/modelled-aws.js';

const MINUTE = 60_000;

let run: ModelledRun | undefined;
afterEach(async () => {
  await run?.dispose();
  run = undefined;
});

/** The SSH (port 22) rule changes on the app servers' group, in order: `open` or `close`. */
function sshChangesOnAppGroup(current: ModelledRun): string[] {
  const appGroupId = [...current.aws.state.securityGroups.values()].find((group) => group.name === current.ctx.names.appServers)?.id;
  return current.aws.calls
    .filter((call) => {
      const input = call.input as { GroupId?: string; IpPermissions?: { FromPort?: number }[] };
      const ssh = input.IpPermissions?.some((permission) => permission.FromPort === 22) ?? true;
      return (call.operation === 'AuthorizeSecurityGroupIngress' || call.operation === 'RevokeSecurityGroupIngress') && input.GroupId === appGroupId && ssh;
    })
    .map((call) => (call.operation === 'AuthorizeSecurityGroupIngress' ? 'open' : 'close'));
}

describe('commission with a database slower than the app servers', () => {
  it('runs prepare.yml on the app servers while the database is created, then the deploy does the rest', async () => {
    run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 }, parameters: { databaseAvailableMs: 20 * MINUTE } });
    const { aws, reporter, ctx } = run;

    await commission(ctx);

    const database = reporter.find('database ');
    const [bake, prepare, ...sites] = aws.playbookRuns;
    expect(bake?.playbooks).toEqual(['image.yml']);
    expect(prepare?.playbooks).toEqual(['prepare.yml']);
    // On the group's one instance, launched from the base image, before the database was available ...
    const instance = aws.liveInstances().find((candidate) => candidate.groupName === ctx.names.appServers);
    const hostName = `ec2-${(instance?.publicIp ?? '').replaceAll('.', '-')}.compute-1.amazonaws.com`;
    expect(prepare?.hosts).toEqual([hostName]);
    expect(prepare?.start).toBeGreaterThan(reporter.find('app servers ')?.end ?? Infinity);
    expect(prepare?.end).toBeLessThan(database?.end ?? 0);
    expect(instance?.preparedAt).toBe(prepare?.end);
    // ... then site.yml on it once the database was, taking only the prepared part's time (the release build runs all of it)
    const deploy = sites.find((site) => site.hosts.includes(hostName));
    expect(deploy?.playbooks).toEqual(['site.yml']);
    expect(deploy?.start).toBeGreaterThan(database?.end ?? Infinity);
    expect((deploy?.end ?? 0) - (deploy?.start ?? 0)).toBe(aws.parameters.preparedDeployPlaybookMs);
    // Two SSH windows one after the other, each closed: prepare's, then the deploy's.
    expect(sshChangesOnAppGroup(run)).toEqual(['open', 'close', 'open', 'close']);
    expect(aws.temporarySshRules()).toEqual([]);
    expect(aws.firstInServiceAt(ctx.names.loadBalancer)).toBeGreaterThan(deploy?.end ?? Infinity);
    expect(reporter.find('configure the app servers while the database is created')?.outcome).toBe('done');
  });

  it('Ctrl-C during prepare.yml: stops it, closes SSH and resumes health replacement', async () => {
    run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 }, parameters: { databaseAvailableMs: 20 * MINUTE } });
    const current = run;
    // The app servers run at about 870 s (after the bake), their SSH answers 30 s later, then prepare.yml runs for PREPARE_SHARE × 2 min.
    void current.clock.sleep(930_000, new AbortController().signal).then(() => current.controller.abort(new Error('interrupted')));

    // The run says what was interrupted: the prepare step.
    await expect(commission(current.ctx)).rejects.toThrow(/^interrupted\n\(also: configure the app servers while the database is created failed: /);

    const prepare = current.aws.playbookRuns.find((playbook) => playbook.playbooks[0] === 'prepare.yml');
    expect(prepare?.start).toBeLessThan(930_000);
    expect(prepare?.end).toBeUndefined();
    expect(current.aws.temporarySshRules()).toEqual([]);
    expect([...current.aws.state.groups.values()].filter((group) => group.suspended.size > 0).map((group) => group.name)).toEqual([]);
    expect(current.reporter.lines.some((line) => /^interrupted; exists now: /.test(line.message))).toBe(true);
  });

  it('when prepare.yml fails: stops with SSH closed and health replacement resumed, and a re-run completes', async () => {
    run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 }, parameters: { databaseAvailableMs: 20 * MINUTE } });
    run.aws.failPlaybookOnce('prepare.yml');

    await expect(commission(run.ctx)).rejects.toThrow(/ansible-playbook prepare\.yml failed/);

    expect(run.reporter.lines.some((line) => /Run `argos staging commission` again to continue/.test(line.message))).toBe(true);
    expect(run.aws.temporarySshRules()).toEqual([]);
    expect([...run.aws.state.groups.values()].filter((group) => group.suspended.size > 0).map((group) => group.name)).toEqual([]);
    // The deploy did not start: no site.yml on the app servers.
    expect(run.aws.playbookRuns.map((playbook) => playbook.playbooks[0])).toEqual(['image.yml', 'prepare.yml']);

    await commission({ ...run.ctx, signal: new AbortController().signal });
    expect(run.aws.firstInServiceAt(run.ctx.names.loadBalancer)).toBeDefined();
    expect(run.aws.temporarySshRules()).toEqual([]);
  });
});
