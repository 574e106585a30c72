/**
 * A run stopped by SIGTERM cleans up like Ctrl-C, and `status` reports what a
 * run killed outright left behind. Against moto, without Ansible: deploy waits
 * for SSH on moto's instances, whose addresses never answer.
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
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

/** Runs the CLI and sends `signal` once a line matching `marker` appears. */
async function signalWhen(args: string[], marker: RegExp, signal: NodeJS.Signals): Promise<{ exitCode: number | undefined; signal: string | undefined; output: string }> {
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
      child.kill(signal);
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
  it('during deploy closes the temporary SSH rule and exits 143', async () => {
    const result = await signalWhen(['deploy', '--ssh-cidr', '198.51.100.7/32'], /SSH not ready|wait for SSH on the hosts/, 'SIGTERM');
    expect(result.signal).toBeUndefined();
    expect(result.exitCode).toBe(143);
    expect(result.output).toContain('SIGTERM received: finishing cleanup');
    expect(result.output).toMatch(/close temporary SSH access/);
    expect(await sshRules()).toEqual([]);
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
