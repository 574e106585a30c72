/**
 * Faults, end to end: Ctrl-C during the image bake, a failing role during
 * deploy, a second Ctrl-C during decommission; each followed by a re-run that
 * converges, and a final check that nothing leaked.
 *
 * Deploys here pass --no-release-image: the one local target plays every host, so a
 * release build's temporary instance would be the app server itself, provisioned twice at
 * once. Release images: release-cli.test.ts (moto) and release-image.test.ts (the model).
 */
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { snapshotAccount } from '../support/account-snapshot.js';
import { importKeyPair } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { CLI, runCli } from '../support/cli.js';
import { localTargetOrSkip } from '../support/local-target.js';
import { makeTargetProject, type TargetProject } from '../support/target-project.js';

const capability = localTargetOrSkip();
let clients: AwsClients;
let project: TargetProject;

const argos = (...args: string[]) => runCli(['staging', ...args], { cwd: project.root, env: fakeAwsEnvironment, timeout: 900_000 });

/**
 * Runs the CLI and presses Ctrl-C as soon as a line matching `marker` appears
 * on its output; with `again`, a second time once it says it is interrupting
 * (if it is still running then). Returns the exit code and the output.
 */
async function interruptWhen(args: string[], marker: RegExp, again = false): Promise<{ exitCode: number; output: string }> {
  const child = execa('node', [CLI, 'staging', ...args], {
    cwd: project.root,
    env: { PATH: process.env['PATH'] ?? '', HOME: project.root, ...fakeAwsEnvironment },
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: 600_000,
  });
  let output = '';
  let presses = 0;
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    // Two signals sent at once merge into one: the second waits for the first to be seen.
    if (presses === 0 && marker.test(output)) {
      presses = 1;
      child.kill('SIGINT');
    } else if (again && presses === 1 && output.includes('interrupting: finishing cleanup')) {
      presses = 2;
      child.kill('SIGINT');
    }
  });
  const result = await child;
  return { exitCode: result.exitCode ?? -1, output };
}

async function temporarySshRules(): Promise<string[]> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({}));
  return (response.SecurityGroups ?? []).flatMap((g) => (g.IpPermissions ?? []).filter((p) => p.FromPort === 22).map(() => g.GroupName ?? ''));
}

describe.skipIf(!capability.ok)(`faults end to end${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  beforeAll(async () => {
    clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
    project = await makeTargetProject();
    // The key pair of the target's own key, so preflight's fingerprint check passes as for a real user.
    await importKeyPair(clients.ec2, 'argos-test', join(project.root, 'keys', 'argos-test.pem'));
  }, 300_000);

  afterAll(async () => {
    await project?.stop();
    clients?.destroy();
  });

  it('Ctrl-C during the bake stops the playbook, removes the bake instance and group, exits 130', async () => {
    const result = await interruptWhen(['commission', '--yes', '--no-deploy'], /running playbooks\/image\.yml/);
    expect(result.exitCode).toBe(130);
    expect(result.output).toMatch(/interrupted; exists now: .*Run `argos staging commission` again to continue/s);
    const account = await snapshotAccount(clients);
    expect(account.instances).toEqual([]);
    expect(account.images).toEqual([]);
    expect(account.securityGroups).not.toContain('argos-image-bake');
    expect(await temporarySshRules()).toEqual([]);
  }, 600_000);

  it('a re-run after the interruption converges', async () => {
    const result = await argos('commission', '--yes', '--no-deploy');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const account = await snapshotAccount(clients);
    expect(account).toMatchObject({ images: ['argos-image'], autoScalingGroups: ['argos-staging-app'], databases: ['argos-staging-database'] });
    expect(account.instances).toHaveLength(1);
  }, 900_000);

  it('a failing role fails the deploy (exit 1); fixed, the re-run converges', async () => {
    await project.writeConfig({ app_nginx_client_max_body_size: 'not-a-size' });
    const failed = await argos('deploy', '--roles', 'app', '--no-release-image');
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/failed task \[app : /);
    expect(await temporarySshRules()).toEqual([]);
    await project.writeConfig();
    const fixed = await argos('deploy', '--roles', 'app', '--no-release-image');
    expect(fixed.stderr).toBe('');
    expect(fixed.exitCode).toBe(0);
    expect(await temporarySshRules()).toEqual([]);
  }, 900_000);

  // The emulator deletes instantly, so the run may end before a second press lands: both
  // presses' exit is 130; that the second exits at once is test/unit/interrupts.test.ts.
  it('Ctrl-C (twice) during decommission exits 130; the re-run finishes, and nothing leaked', async () => {
    const result = await interruptWhen(['decommission', '--yes'], /▸ app servers, launch templates and load balancer/, true);
    expect(result.exitCode).toBe(130);
    expect(result.output).toMatch(/interrupted twice; exiting without finishing cleanup|interrupted: run `argos staging decommission` again to finish what is left/);
    let rerun = await argos('decommission', '--yes');
    if (/interrupted twice/.test(result.output)) {
      // Exited at once: the lock stays, and the re-run names the run that is gone and how to break it.
      expect(rerun.exitCode).toBe(1);
      expect(rerun.stderr).toMatch(/staging is locked by .*--force-unlock\. That run is no longer running \(no process \d+ on this host\): it was killed\./);
      rerun = await argos('decommission', '--yes', '--force-unlock');
    }
    expect(rerun.exitCode).toBe(0);
    expect((await argos('clean', '--yes')).exitCode).toBe(0);
    const account = await snapshotAccount(clients);
    expect(account).toMatchObject({ instances: [], securityGroups: [], images: [], launchTemplates: [], loadBalancers: [], autoScalingGroups: [], databases: [], databaseSubnetGroups: [] });
    expect(await temporarySshRules()).toEqual([]);
  }, 900_000);
});
