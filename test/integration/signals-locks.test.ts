/**
 * A run stopped by SIGTERM cleans up like Ctrl-C, `status` reports what a run
 * killed outright left behind, and one run at a time holds an environment's
 * (or the image's) lock. Against moto, without Ansible: deploy waits for SSH on
 * moto's instances, whose addresses never answer.
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { CreateSecurityGroupCommand, DescribeImagesCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { closeSsh, openSsh } from '../../src/security.js';
import { createKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { CLI, makeProject, runCli } from '../support/cli.js';

let clients: AwsClients;
let project: string;
let env: Record<string, string>;

const argos = (...args: string[]) => runCli(['staging', ...args], { cwd: project, env, timeout: 120_000 });

/** The id of the app servers' security group. */
async function appGroupId(): Promise<string> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['argos-staging-app'] }] }));
  const id = response.SecurityGroups?.[0]?.GroupId;
  if (!id) throw new Error('argos-staging-app not found');
  return id;
}

/** Every SSH rule in the account, as "group cidr". */
async function sshRules(): Promise<string[]> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({}));
  return (response.SecurityGroups ?? []).flatMap((group) =>
    (group.IpPermissions ?? []).filter((p) => p.FromPort === 22).flatMap((p) => (p.IpRanges ?? []).map((r) => `${group.GroupName} ${r.CidrIp}`)),
  );
}

/** The tags of the lock group `name`, or undefined when nobody holds it. */
async function lockTags(name: string): Promise<Record<string, string> | undefined> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }] }));
  const group = response.SecurityGroups?.[0];
  return group ? Object.fromEntries((group.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) : undefined;
}

/** Takes a lock by hand, as another run (on another machine, or killed) would hold it. */
async function holdLock(name: string, holder: { host: string; pid: number }): Promise<void> {
  const vpcs = await clients.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }));
  const tags = {
    Name: name,
    ManagedBy: 'argos',
    ArgosLock: name,
    Holder: `ann@${holder.host} pid ${holder.pid}`,
    HolderHost: holder.host,
    HolderPid: String(holder.pid),
    Since: '2025-01-02T03:04:05.000Z',
    Command: 'argos staging commission',
  };
  await clients.ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: name,
      Description: 'a lock held by another run',
      VpcId: vpcs.Vpcs?.[0]?.VpcId,
      TagSpecifications: [{ ResourceType: 'security-group', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    }),
  );
}

/** Runs the CLI and sends `signal` once a line matching `marker` appears (after `before`, if given). */
async function signalWhen(
  args: string[],
  marker: RegExp,
  signal: NodeJS.Signals,
  before: () => Promise<void> = async () => undefined,
): Promise<{ exitCode: number | undefined; signal: string | undefined; output: string }> {
  const child = execa('node', [CLI, 'staging', ...args], {
    cwd: project,
    env: { HOME: project, ...env },
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: 120_000,
  });
  let output = '';
  let sent = false;
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!sent && marker.test(output)) {
      sent = true;
      void before().finally(() => child.kill(signal));
    }
  });
  const result = await child;
  return { exitCode: result.exitCode, signal: result.signal, output };
}

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  // A stand-in ansible-playbook: the preflight finds it; these runs stop before any playbook.
  const bin = await mkdtemp(join(tmpdir(), 'argos-bin-'));
  await writeFile(join(bin, 'ansible-playbook'), '#!/bin/sh\necho "ansible-playbook [core 2.16.0]"\n');
  await chmod(join(bin, 'ansible-playbook'), 0o755);
  env = { ...fakeAwsEnvironment, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
  await createKeyPair(clients.ec2, 'argos-test');
  await registerImage(clients.ec2, 'argos-image');
  const commissioned = await argos('commission', '--no-deploy', '--yes');
  expect(commissioned.stderr).toBe('');
}, 120_000);
afterAll(() => clients.destroy());

describe('SIGTERM', () => {
  it('during deploy closes the temporary SSH rule, releases the lock and exits 143', async () => {
    let heldBy: Record<string, string> | undefined;
    const result = await signalWhen(['deploy', '--ssh-cidr', '198.51.100.7/32'], /SSH not ready|wait for SSH on the hosts/, 'SIGTERM', async () => {
      heldBy = await lockTags('argos-staging-lock');
    });
    // The run held the environment's lock while it waited…
    expect(heldBy).toMatchObject({ ArgosLock: 'argos-staging-lock', HolderHost: hostname(), Command: 'argos staging deploy' });
    expect(result.signal).toBeUndefined();
    expect(result.exitCode).toBe(143);
    expect(result.output).toContain('SIGTERM received: finishing cleanup');
    expect(result.output).toMatch(/close temporary SSH access/);
    expect(await sshRules()).toEqual([]);
    // …and released it after its cleanup.
    expect(await lockTags('argos-staging-lock')).toBeUndefined();
  });
});

describe('locks', () => {
  it('a second run refuses at once while another holds the environment, saying who since when and how to break it', async () => {
    await holdLock('argos-staging-lock', { host: 'laptop-of-ann', pid: 4242 });
    const result = await argos('deploy', '--ssh-cidr', '198.51.100.7/32');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      'argos: staging is locked by ann@laptop-of-ann pid 4242 since 2025-01-02T03:04:05.000Z (argos staging commission); ' +
        'wait for it, or if that run is dead: argos staging deploy --force-unlock',
    );
    // Nothing was touched, and the other run's lock is still there.
    expect(await sshRules()).toEqual([]);
    expect(await lockTags('argos-staging-lock')).toMatchObject({ Holder: 'ann@laptop-of-ann pid 4242' });
  });

  it('--force-unlock breaks the lock, saying whose it was; the run releases its own lock when it succeeds', async () => {
    const result = await argos('commission', '--no-deploy', '--yes', '--force-unlock');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('breaking the lock: staging is locked by ann@laptop-of-ann pid 4242 since 2025-01-02T03:04:05.000Z (argos staging commission)');
    expect(await lockTags('argos-staging-lock')).toBeUndefined();
  });

  it('says when the holder was a process of this host that is gone', async () => {
    const gone = execa('true');
    await gone;
    await holdLock('argos-staging-lock', { host: hostname(), pid: gone.pid ?? 0 });
    const result = await argos('decommission', '--yes');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`That run is no longer running (no process ${gone.pid} on this host): it was killed.`);
    // Broken by the next run, which then fails on its own (no worker hosts).
    const next = await argos('deploy', '--roles', 'worker', '--force-unlock');
    expect(next.stdout).toContain(`breaking the lock: staging is locked by ann@${hostname()} pid ${gone.pid}`);
  });

  it('a run releases its lock when it fails', async () => {
    // deploy --roles worker fails (no worker hosts) after taking the lock
    const failed = await argos('deploy', '--roles', 'worker', '--ssh-cidr', '198.51.100.7/32');
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain('no hosts for role worker');
    expect(await lockTags('argos-staging-lock')).toBeUndefined();
  });

  it('clean refuses while another run holds the shared image', async () => {
    await holdLock('argos-image.lock', { host: 'laptop-of-ann', pid: 4242 });
    const result = await argos('clean', '--yes');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('the image argos-image is locked by ann@laptop-of-ann pid 4242');
    expect(result.stderr).toContain('argos staging clean --force-unlock');
    const images = await clients.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['argos-image'] }] }));
    expect(images.Images ?? []).toHaveLength(1);
  });
});

describe('status', () => {
  it('reports a temporary SSH rule left by a killed run as drift', async () => {
    const groupId = await appGroupId();
    await openSsh(clients.ec2, groupId, '198.51.100.7/32');
    try {
      const result = await argos('status');
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`temporary SSH from 198.51.100.7/32 on argos-staging-app (${groupId}), left by a killed run: argos staging deploy removes it`);
    } finally {
      await closeSsh(clients.ec2, groupId);
    }
  });
});
