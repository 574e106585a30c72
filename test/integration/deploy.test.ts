/**
 * `argos <env> deploy` for real: the CLI against moto, the real
 * ansible-playbook against a real local target reached under the emulator's
 * host names through an ssh_config. (Skipped where no local target can run,
 * except under ARGOS_REQUIRE_LOCAL_TARGET=1, as in CI.)
 *
 * Deploys here pass --no-release-image: the one local target plays every host, so a
 * release build's temporary instance would be the app server itself, provisioned twice at
 * once. Release images: release-cli.test.ts (moto) and release-image.test.ts (the model).
 */
import { chmod, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { importKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { runCli } from '../support/cli.js';
import { localTargetOrSkip } from '../support/local-target.js';
import { CANARY, makeTargetProject, TARGET_PORTS, type TargetProject } from '../support/target-project.js';

const capability = localTargetOrSkip();
let clients: AwsClients;
let project: TargetProject;
let spyLog: string;
let env: Record<string, string>;
/** Ansible's control_path_dir for these runs: argos's SSH wait leaves its master connection there. */
let controlDir: string;

/** Every temporary SSH rule in the account (there must be none after a run). */
async function sshRules(): Promise<string[]> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({}));
  return (response.SecurityGroups ?? []).flatMap((group) =>
    (group.IpPermissions ?? []).filter((p) => p.FromPort === 22).flatMap((p) => (p.IpRanges ?? []).map((r) => `${group.GroupName} ${r.CidrIp}`)),
  );
}

describe.skipIf(!capability.ok)(`deploy to a real target${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  beforeAll(async () => {
    clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
    project = await makeTargetProject();
    // The key pair of the target's own key, so preflight's fingerprint check passes as for a real user.
    await importKeyPair(clients.ec2, 'argos-test', join(project.root, 'keys', 'argos-test.pem'));
    await registerImage(clients.ec2, 'argos-image');
    // A spy in front of the real ansible-playbook: records every argv and environment.
    const bin = await mkdtemp(join(tmpdir(), 'argos-spy-'));
    spyLog = join(bin, 'calls.log');
    const real = (await import('execa')).execaSync('sh', ['-c', 'command -v ansible-playbook']).stdout.trim();
    await writeFile(join(bin, 'ansible-playbook'), [
      '#!/bin/sh',
      `{ printf 'ARGV:'; printf ' %s' "$@"; printf '\\n'; env; } >> '${spyLog}'`,
      `exec '${real}' "$@"`,
      '',
    ].join('\n'));
    await chmod(join(bin, 'ansible-playbook'), 0o755);
    // And one in front of ssh: as each of Ansible's module runs starts (`/bin/sh -c` on the host),
    // the master connections' sockets there. ansible-playbook starts during argos's SSH wait; its
    // gate play holds every task until the wait's login is up.
    const realSsh = (await import('execa')).execaSync('sh', ['-c', 'command -v ssh']).stdout.trim();
    await writeFile(join(bin, 'ssh'), [
      '#!/bin/sh',
      `case "$*" in *'/bin/sh -c'*) printf 'SSH:\\nSOCKETS: %s\\n' "$(ls -A "$ANSIBLE_SSH_CONTROL_PATH_DIR" | tr '\\n' ' ')" >> '${spyLog}' ;; esac`,
      `exec '${realSsh}' "$@"`,
      '',
    ].join('\n'));
    await chmod(join(bin, 'ssh'), 0o755);
    controlDir = await mkdtemp(join(tmpdir(), 'cp-'));
    env = { ...fakeAwsEnvironment, PATH: `${bin}:${process.env['PATH'] ?? ''}`, ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir };
    const commissioned = await runCli(['staging', 'commission', '--no-deploy', '--yes'], { cwd: project.root, env, timeout: 120_000 });
    expect(commissioned.stderr).toBe('');
  }, 300_000);

  afterAll(async () => {
    // A master connection a failed run left (argos closes its own on the way out): closed through its socket.
    for (const socket of controlDir ? await readdir(controlDir).catch(() => []) : []) {
      await execa('ssh', ['-O', 'exit', '-o', `ControlPath=${join(controlDir, socket)}`, 'master'], { reject: false, timeout: 10_000 });
    }
    await project?.stop();
    clients?.destroy();
  });

  it('runs the real app playbook on the target; nginx serves the sample app', async () => {
    // GIVEN a stale host key of an instance that is gone
    const knownHosts = join(project.root, 'hosts', 'known_hosts_staging');
    await writeFile(knownHosts, 'ec2-203-0-113-99.compute-1.amazonaws.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld\n');
    // WHEN deploying the app role
    const result = await runCli(['staging', 'deploy', '--roles', 'app', '--no-release-image'], { cwd: project.root, env, timeout: 600_000 });
    // THEN it succeeded and the page comes through nginx from uWSGI
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('hosts: appservers: 1, brokers: 0, workers: 0');
    const page = await fetch(`http://127.0.0.1:${TARGET_PORTS.nginx}/some/page`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('argos');
    // and the known_hosts file holds the current host only, by its instance id
    const hosts = await readFile(join(project.root, 'hosts', 'hosts_staging'), 'utf8');
    const current = /instance_id=(i-[0-9a-f]+)/.exec(hosts)?.[1] ?? 'no instance';
    const known = await readFile(knownHosts, 'utf8');
    expect(known).toMatch(new RegExp(`^${current} `, 'm'));
    expect(known).not.toContain('ec2-203-0-113-99');
    // and Ansible reused the login of argos's SSH wait: its master socket was there (one, ssh's %C hash)
    // when each of Ansible's module runs started, the first included, Ansible was given its path, and made no other.
    const calls = await readFile(spyLog, 'utf8');
    expect(calls).toContain(`ControlPath=${controlDir}/%C`);
    const sockets = [...calls.matchAll(/^SSH:\nSOCKETS: (.*)$/gm)].map((match) => (match[1] ?? '').trim());
    expect(sockets.length).toBeGreaterThan(0);
    for (const listed of sockets) expect(listed).toMatch(/^[0-9a-f]{40}$/);
    expect(new Set(sockets).size).toBe(1);
    // and argos closed that master before it revoked the rule: nothing it opened outlives the run.
    expect(await readdir(controlDir)).toEqual([]);
    expect(result.stdout).toMatch(/close temporary SSH access/);
  }, 600_000);

  it('closed the temporary SSH rule after the successful run', async () => {
    expect(await sshRules()).toEqual([]);
  });

  it('fails with exit 1 naming the failing task and host, and still closes SSH', async () => {
    // GIVEN a config that makes the nginx check (nginx -t) fail
    await project.writeConfig({ app_nginx_client_max_body_size: 'not-a-size' });
    try {
      const result = await runCli(['staging', 'deploy', '--roles', 'app', '--no-release-image'], { cwd: project.root, env, timeout: 600_000 });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/ansible-playbook playbooks\/app\.yml failed \(exit 2\): failed task \[app : [^\]]+\]( and handler \[app : Reload nginx\])? on ec2-\S+\.amazonaws\.com/);
      expect(await sshRules()).toEqual([]);
      // and the master connection is closed on a failed run too
      expect(await readdir(controlDir)).toEqual([]);
      const log = await readFile(join(project.root, 'logs', 'argos-staging.log'), 'utf8');
      expect(log).toContain('PLAY RECAP');
    } finally {
      await project.writeConfig();
    }
  }, 600_000);

  it('never put the database password in an ansible-playbook argv or environment, nor in the log', async () => {
    const calls = await readFile(spyLog, 'utf8');
    expect(calls).toContain('ARGV:');
    expect(calls).not.toContain(CANARY);
    const log = await readFile(join(project.root, 'logs', 'argos-staging.log'), 'utf8');
    expect(log).not.toContain(CANARY);
  });
});
