/**
 * commission's preflight and deploy, against moto, with real keys: a private
 * key that is not the key pair's, and an ssh_config that does not exist, are
 * found before anything is created or SSH is tried.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateKeyPairCommand, DeleteKeyPairCommand, ImportKeyPairCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { toOpenSshPublicKey } from '../../src/keys.js';
import { registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli, sampleConfig } from '../support/cli.js';

let clients: AwsClients;
let project: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  // The image exists: preflight then needs no base AMI and, with --no-deploy, no Ansible.
  await registerImage(clients.ec2, 'argos-image');
});
afterAll(() => clients.destroy());

/** The OpenSSH one-line public key of `key`, as ImportKeyPair takes it. */
const openSshPublicKey = (key: KeyObject) => `ssh-${key.asymmetricKeyType} ${toOpenSshPublicKey(key).toString('base64')}`;

/** Writes `pem` as keys/argos-test.pem, readable by its owner only. */
async function writeKeyFile(pem: string): Promise<void> {
  const file = join(project, 'keys', 'argos-test.pem');
  await writeFile(file, pem);
  await chmod(file, 0o600);
}

/** Makes `argos-test` in moto: imported from `publicKey`, or created by EC2 (its private key returned). */
async function makeKeyPair(publicKey?: KeyObject): Promise<string | undefined> {
  await clients.ec2.send(new DeleteKeyPairCommand({ KeyName: 'argos-test' }));
  if (publicKey) {
    await clients.ec2.send(new ImportKeyPairCommand({ KeyName: 'argos-test', PublicKeyMaterial: Buffer.from(openSshPublicKey(publicKey)) }));
    return undefined;
  }
  return (await clients.ec2.send(new CreateKeyPairCommand({ KeyName: 'argos-test' }))).KeyMaterial;
}

const generate = (type: 'rsa' | 'ed25519') => (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519'));
const pemOf = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const commissionDryRun = (...flags: string[]) => runCli(['staging', 'commission', '--dry-run', '--no-deploy', ...flags], { cwd: project, env: fakeAwsEnvironment, timeout: 60_000 });
const MISMATCH = /preflight found 1 problem, nothing was created: \(1\) keys\/argos-test\.pem does not match the key pair argos-test in us-east-1 \(fingerprint (\S+) vs (\S+)\): put the right private key there/;

describe.each(['rsa', 'ed25519'] as const)('an imported %s key pair', (type) => {
  const own = generate(type);
  const other = generate(type);

  beforeAll(() => makeKeyPair(own.publicKey));

  it('passes preflight with its own private key', async () => {
    await writeKeyFile(pemOf(own.privateKey));
    const result = await commissionDryRun();
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain('is the private key of the key pair');
  });

  it('fails preflight with another private key, showing both fingerprints', async () => {
    await writeKeyFile(pemOf(other.privateKey));
    const result = await commissionDryRun();
    expect(result.exitCode).toBe(2);
    const [, local, remote] = result.stderr.match(MISMATCH) ?? [];
    expect(local).toBeDefined();
    expect(local).not.toBe(remote);
  });
});

describe('a key pair EC2 created', () => {
  it('passes preflight with the private key CreateKeyPair returned, fails with another', async () => {
    const material = await makeKeyPair();
    await writeKeyFile(material ?? '');
    const own = await commissionDryRun();
    expect(own.stderr).toBe('');
    expect(own.exitCode).toBe(0);

    await writeKeyFile(pemOf(generate('rsa').privateKey));
    const other = await commissionDryRun();
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toMatch(MISMATCH);
  });

  it('warns that it could not check a key file that is not a key, and goes on', async () => {
    await writeKeyFile('not a real key\n');
    const result = await commissionDryRun();
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/could not check that keys\/argos-test\.pem is the private key of the key pair argos-test: it could not be read as a private key/);
  });
});

describe('an ssh_config that does not exist', () => {
  beforeAll(async () => {
    const material = await makeKeyPair();
    await writeKeyFile(material ?? '');
  });

  it('--ssh-config: a preflight problem of commission, naming the file and the flag', async () => {
    const result = await commissionDryRun('--ssh-config', 'missing.cfg');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`(1) the ssh_config ${join(project, 'missing.cfg')} (from --ssh-config) does not exist: create it, or fix --ssh-config`);
  });

  it('--ssh-config: deploy refuses before it looks for hosts or opens SSH', async () => {
    const result = await runCli(['staging', 'deploy', '--ssh-config', 'missing.cfg'], { cwd: project, env: fakeAwsEnvironment });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`the ssh_config ${join(project, 'missing.cfg')} (from --ssh-config) does not exist`);
    expect(result.stdout).not.toContain('hosts');
  });

  it('ssh_config in the config file: named as coming from there', async () => {
    const withConfig = await makeProject(sampleConfig({ ssh_config: 'bastion.cfg' }));
    const result = await runCli(['staging', 'deploy'], { cwd: withConfig, env: fakeAwsEnvironment });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`the ssh_config ${join(withConfig, 'bastion.cfg')} (from ssh_config in playbooks/group_vars/all.yml) does not exist: create it, or fix ssh_config`);
  });
});
