/**
 * commission's preflight against moto, when a bake is needed: the base AMI's
 * release (by its name, as DescribeImages returns it) against the local
 * ansible-core's supported target Pythons. `ansible-playbook` is a stub on PATH
 * that prints the version line of the release under test (the local one is
 * whatever the machine has); everything else is the real CLI and SDK.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli, sampleConfig } from '../support/cli.js';

let clients: AwsClients;
let noble: string;
let jammy: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  // Canonical's naming of its AMIs; no image of the app exists, so commission must bake from base_ami.
  noble = await registerImage(clients.ec2, 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20240423');
  jammy = await registerImage(clients.ec2, 'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240301');
});
afterAll(() => clients.destroy());

/** A project whose config bakes from `baseAmi`, with an ansible-playbook that says it is ansible-core `core`. */
async function projectWith(baseAmi: string, core: string, overrides: Record<string, unknown> = {}): Promise<{ root: string; path: string }> {
  const root = await makeProject(sampleConfig({ base_ami: baseAmi, app_name: 'pyck', ...overrides }));
  const bin = join(root, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'ansible-playbook'), `#!/bin/sh\necho 'ansible-playbook [core ${core}]'\n`);
  await chmod(join(bin, 'ansible-playbook'), 0o755);
  return { root, path: `${bin}:${process.env['PATH'] ?? ''}` };
}

const commissionDryRun = (project: { root: string; path: string }) =>
  runCli(['staging', 'commission', '--dry-run'], { cwd: project.root, env: { ...fakeAwsEnvironment, PATH: project.path }, timeout: 60_000 });

describe('preflight: the base AMI against the local ansible-core', () => {
  it('refuses Ubuntu 24.04 with ansible-core 2.14, naming both versions and what to do', async () => {
    const result = await commissionDryRun(await projectWith(noble, '2.14.18'));
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      `base_ami ${noble} is Ubuntu 24.04 with Python 3.12, which ansible-core 2.14 (the local ansible-playbook) does not support ` +
        `(it manages Python up to 3.11): install ansible-core 2.16 or newer`,
    );
  });

  it('says nothing about it for Ubuntu 24.04 with ansible-core 2.16, nor for Ubuntu 22.04 with 2.14', async () => {
    for (const [ami, core] of [[noble, '2.16.3'], [jammy, '2.14.18']] as const) {
      const result = await commissionDryRun(await projectWith(ami, core));
      expect(result.stderr).not.toContain('ansible-core');
    }
  });

  it('reads the old remote_user key with a warning that says to rename it', async () => {
    const project = await projectWith(jammy, '2.14.18', { login_user: undefined, remote_user: 'admin' });
    const result = await commissionDryRun(project);
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output).toContain('rename remote_user to login_user in playbooks/group_vars/all.yml');
    // The run went on to preflight (its one problem here is the key pair moto lacks).
    expect(result.stderr).toContain('preflight found');
  });
});
