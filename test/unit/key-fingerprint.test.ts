/**
 * The key file check against the fingerprints AWS itself reports (moto reports
 * other forms): each expected fingerprint is computed by the tools AWS's
 * "Verify your key pair fingerprint" names (openssl, ssh-keygen), not by argos.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeKeyPairsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkKeyPair } from '../../src/keys.js';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'us-east-1' });
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'argos-fingerprint-'));
});

/** Runs a tool and returns its output. */
const run = (command: string, ...args: string[]) => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

/** ssh-keygen's key (OpenSSH's own private key format, as AWS hands out ED25519 keys). */
function sshKeygen(name: string, type: string): string {
  const file = join(root, name);
  run('ssh-keygen', '-q', '-t', type, '-N', '', '-C', '', '-f', file);
  return file;
}

/** What checkKeyPair says of `file` when AWS reports `fingerprint` for the key pair. */
function check(file: string, fingerprint: string) {
  ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: 'argos', KeyFingerprint: fingerprint }] });
  return checkKeyPair(ec2, 'argos', 'us-east-1', { path: file, root });
}

describe('the key file against the key pair fingerprint AWS reports', () => {
  it('an RSA key pair AWS created: SHA-1 of the PKCS#8 DER private key (openssl pkcs8 | openssl sha1 -c)', async () => {
    const file = join(root, 'created.pem');
    run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file);
    const der = join(root, 'created.der');
    run('openssl', 'pkcs8', '-in', file, '-topk8', '-nocrypt', '-outform', 'DER', '-out', der);
    const fingerprint = run('openssl', 'sha1', '-c', der).trim().split(' ').at(-1) ?? '';
    expect(await check(file, fingerprint)).toEqual({ problems: [], warnings: [] });
    expect((await check(file, fingerprint.replace(/^../, (pair) => (pair === '00' ? '01' : '00')))).problems[0]).toMatch(/^created\.pem does not match the key pair argos in us-east-1 \(fingerprint/);
  });

  it('an imported RSA key, in OpenSSH format: MD5 of the DER public key (openssl md5 -c) or of the OpenSSH one (ssh-keygen -E md5)', async () => {
    const file = sshKeygen('imported_rsa', 'rsa');
    const der = join(root, 'imported.der');
    execFileSync('sh', ['-c', `ssh-keygen -e -m PKCS8 -f '${file}.pub' | openssl pkey -pubin -outform DER -out '${der}'`]);
    const fromDer = run('openssl', 'md5', '-c', der).trim().split(' ').at(-1) ?? '';
    expect(await check(file, fromDer)).toEqual({ problems: [], warnings: [] });
    const fromOpenSsh = run('ssh-keygen', '-l', '-E', 'md5', '-f', `${file}.pub`).split(' ')[1]?.replace(/^MD5:/, '') ?? '';
    expect(fromOpenSsh).not.toBe(fromDer);
    expect(await check(file, fromOpenSsh)).toEqual({ problems: [], warnings: [] });
  });

  it('an ED25519 key: base64 SHA-256 of the OpenSSH public key (ssh-keygen -l), with or without padding', async () => {
    const file = sshKeygen('ed25519', 'ed25519');
    const fingerprint = run('ssh-keygen', '-l', '-f', `${file}.pub`).split(' ')[1]?.replace(/^SHA256:/, '') ?? '';
    expect(await check(file, `${fingerprint}=`)).toEqual({ problems: [], warnings: [] });
    expect(await check(file, fingerprint)).toEqual({ problems: [], warnings: [] });
    const other = sshKeygen('other_ed25519', 'ed25519');
    expect((await check(other, `${fingerprint}=`)).problems).toEqual([
      expect.stringMatching(/^other_ed25519 does not match the key pair argos in us-east-1 \(fingerprint [A-Za-z0-9+/]{43} vs [A-Za-z0-9+/]{43}=\): put the right private key there/),
    ]);
  });

  it('a fingerprint of a form argos does not know is a warning, not a problem', async () => {
    const file = sshKeygen('unknown_form', 'ed25519');
    const result = await check(file, 'not-a-fingerprint');
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual(["could not check that unknown_form is the private key of the key pair argos: AWS gives its fingerprint as 'not-a-fingerprint', a form argos does not know"]);
  });
});
