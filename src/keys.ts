/**
 * The SSH key pair: the private key file argos and Ansible log in with, and the
 * EC2 key pair of the same name. Both are checked before anything is created.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { DescribeKeyPairsCommand, type EC2Client, type KeyPairInfo } from '@aws-sdk/client-ec2';
import { ArgosError } from './errors.js';
import { EC2_ERRORS } from './aws/error-codes.js';
import { hasErrorCode } from './wait.js';

/**
 * Checks that `keys/<key_name>.pem` exists and is readable by its owner only
 * (OpenSSH ignores a key others can read, and the failure would surface later
 * as a baffling "Permission denied (publickey)"). Returns problems, empty if none.
 */
export async function checkKeyFile(keyFile: string, root: string): Promise<string[]> {
  const shown = relative(root, keyFile);
  try {
    const info = await stat(keyFile);
    if (!info.isFile()) return [`${shown} is not a file: put the private key of the key pair there`];
    if ((info.mode & 0o077) !== 0) {
      return [`${shown} can be read by other users (mode ${(info.mode & 0o777).toString(8)}), so ssh would refuse it: run chmod 600 ${shown}`];
    }
    return [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [`private key ${shown} not found: save the private key of the EC2 key pair there and run chmod 600 ${shown}`];
    }
    throw error;
  }
}

/** What a key pair check found: problems stop the run, warnings say what could not be checked. */
export interface KeyPairCheck {
  problems: string[];
  warnings: string[];
}

/**
 * Checks that the EC2 key pair exists in the region and, when `keyFile` is
 * given, that the private key there is the key pair's (compared by
 * fingerprint): otherwise every SSH login fails with "Permission denied
 * (publickey)" only after the instances are up. A key file that cannot be read
 * as a key, or a fingerprint of a form argos does not know, is a warning.
 */
export async function checkKeyPair(ec2: EC2Client, keyName: string, region: string, keyFile?: { path: string; root: string }): Promise<KeyPairCheck> {
  const missing = `EC2 key pair '${keyName}' not found in ${region}: create or import it (aws ec2 import-key-pair --key-name ${keyName} ...), or fix key_name`;
  let keyPair: KeyPairInfo | undefined;
  try {
    keyPair = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [keyName] }))).KeyPairs?.[0];
  } catch (error) {
    if (hasErrorCode(error, EC2_ERRORS.keyPairNotFound)) return { problems: [missing], warnings: [] };
    throw error;
  }
  if (!keyPair) return { problems: [missing], warnings: [] };
  if (!keyFile) return { problems: [], warnings: [] };
  return compareKeyFile(keyFile.path, keyFile.root, keyPair, region);
}

/** Compares the private key in `path` with the key pair's fingerprint. */
async function compareKeyFile(path: string, root: string, keyPair: KeyPairInfo, region: string): Promise<KeyPairCheck> {
  const shown = relative(root, path);
  const name = keyPair.KeyName ?? '?';
  const remote = keyPair.KeyFingerprint ?? '';
  const uncheckable = (why: string): KeyPairCheck => ({ problems: [], warnings: [`could not check that ${shown} is the private key of the key pair ${name}: ${why}`] });
  if (remote === '') return uncheckable('AWS gives no fingerprint for it');
  if (!isKnownFingerprint(remote)) return uncheckable(`AWS gives its fingerprint as '${remote}', a form argos does not know`);
  let candidates: string[];
  try {
    candidates = await fingerprintsOfFile(path);
  } catch (error) {
    // Unreadable files are checkKeyFile's to report; here only what parses is compared.
    return uncheckable(`it could not be read as a private key (${(error as Error).message})`);
  }
  if (candidates.length === 0) return uncheckable('argos compares RSA and ED25519 keys only');
  const expected = normalizeFingerprint(remote);
  if (candidates.includes(expected)) return { problems: [], warnings: [] };
  // The local fingerprint shown is one of the same form (length) as AWS's.
  const local = candidates.find((candidate) => candidate.length === expected.length) ?? candidates[0];
  return {
    problems: [`${shown} does not match the key pair ${name} in ${region} (fingerprint ${local} vs ${remote}): put the right private key there, or fix key_name`],
    warnings: [],
  };
}

/**
 * The fingerprints AWS may give the key pair of the private key in `path`, in
 * the forms of `normalizeFingerprint`. AWS (KeyPairInfo.KeyFingerprint, "Verify
 * your key pair fingerprint"): an RSA key pair AWS created has the SHA-1 of the
 * private key's PKCS#8 DER; an imported RSA key the MD5 of its public key (DER
 * SubjectPublicKeyInfo, as `openssl pkey -pubout -outform DER | openssl md5 -c`);
 * ED25519 keys the base64 SHA-256 of the OpenSSH public key, as `ssh-keygen -l`
 * shows it. AWS hands out ED25519 private keys in OpenSSH's own format, which
 * Node cannot read: its public key is read from the file's clear header.
 */
async function fingerprintsOfFile(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  const blob = readOpenSshPublicKey(text);
  if (blob) return fingerprintsOfPublicKey(publicKeyOfBlob(blob));
  const key = createPrivateKey(text);
  return [...(key.asymmetricKeyType === 'rsa' ? [hexDigest('sha1', key.export({ type: 'pkcs8', format: 'der' }))] : []), ...fingerprintsOfPublicKey(createPublicKey(key))];
}

/**
 * The fingerprints of a public key. For imported RSA keys the API reference says
 * "MD5 as in RFC 4716 section 4" (of the OpenSSH public key, as `ssh-keygen -l -E
 * md5`) while the EC2 guide and AWS itself use the DER public key: both are taken.
 * moto 5.2.1 hashes the DER public key for key pairs it creates (SHA-1 for RSA)
 * and for ED25519 (SHA-256, hex): accepted too, since no other key has the same digest.
 */
function fingerprintsOfPublicKey(key: KeyObject): string[] {
  const der = key.export({ type: 'spki', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') return [hexDigest('md5', der), hexDigest('md5', toOpenSshPublicKey(key)), hexDigest('sha1', der)];
  if (key.asymmetricKeyType === 'ed25519') return [normalizeFingerprint(createHash('sha256').update(toOpenSshPublicKey(key)).digest('base64')), hexDigest('sha256', der)];
  return [];
}

/**
 * The OpenSSH public key blob (RFC 4253 6.6, RFC 8709) of an RSA or ED25519 key:
 * what follows the type in a `.pub` line, base64-decoded.
 */
export function toOpenSshPublicKey(key: KeyObject): Buffer {
  const { kty, e, n, x } = key.export({ format: 'jwk' });
  const bytes = (value: string | undefined) => Buffer.from(value ?? '', 'base64url');
  // mpint: a leading zero byte keeps a number whose high bit is set positive.
  const mpint = (value: Buffer) => sshString((value[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), value]) : value);
  if (kty === 'RSA') return Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(bytes(e)), mpint(bytes(n))]);
  if (kty === 'OKP' && key.asymmetricKeyType === 'ed25519') return Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(bytes(x))]);
  throw new Error(`no OpenSSH form for a ${key.asymmetricKeyType ?? '?'} key`);
}

/** A digest as hex pairs joined by colons, the form AWS gives MD5 and SHA-1 fingerprints in. */
function hexDigest(algorithm: string, data: Buffer): string {
  return createHash(algorithm).update(data).digest('hex').replace(/(..)(?!$)/g, '$1:');
}

/**
 * The public key blob of an OpenSSH private key file ("openssh-key-v1": magic,
 * cipher, KDF, KDF options, key count, then the public keys in the clear, see
 * OpenSSH's PROTOCOL.key), or `undefined` for any other format.
 */
function readOpenSshPublicKey(text: string): Buffer | undefined {
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([^-]*)-----END OPENSSH PRIVATE KEY-----/.exec(text)?.[1];
  if (body === undefined) return undefined;
  const data = Buffer.from(body.replace(/\s/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (data.subarray(0, magic.length).toString('latin1') !== magic) throw new Error('not an openssh-key-v1 file');
  const [cipher, kdf, kdfOptions] = readSshStrings(data, magic.length, 3);
  // After the three strings, a uint32 key count, then the first public key.
  const headerEnd = magic.length + 12 + (cipher?.length ?? 0) + (kdf?.length ?? 0) + (kdfOptions?.length ?? 0);
  return readSshStrings(data, headerEnd + 4, 1)[0];
}

/** A KeyObject of an OpenSSH public key blob (ssh-ed25519 or ssh-rsa). */
function publicKeyOfBlob(blob: Buffer): KeyObject {
  const type = readSshStrings(blob, 0, 1)[0];
  const [, first, second] = readSshStrings(blob, 0, type?.toString() === 'ssh-rsa' ? 3 : 2);
  const url = (data: Buffer | undefined) => (data ?? Buffer.alloc(0)).toString('base64url');
  if (type?.toString() === 'ssh-ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: url(first) }, format: 'jwk' });
  // ssh-rsa: mpint e, mpint n; JWK wants them without the sign byte.
  const unsigned = (data: Buffer | undefined) => (data?.[0] === 0 ? data.subarray(1) : data);
  if (type?.toString() === 'ssh-rsa') return createPublicKey({ key: { kty: 'RSA', e: url(unsigned(first)), n: url(unsigned(second)) }, format: 'jwk' });
  throw new Error(`an OpenSSH key of type ${type?.toString() ?? '?'}`);
}

/** Reads `count` length-prefixed strings (RFC 4251) from `offset`; throws when the data is cut short. */
function readSshStrings(data: Buffer, offset: number, count: number): Buffer[] {
  const strings: Buffer[] = [];
  for (let at = offset; strings.length < count; ) {
    const length = data.readUInt32BE(at);
    if (at + 4 + length > data.length) throw new Error('a truncated OpenSSH key');
    strings.push(data.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return strings;
}

/** A length-prefixed string of the SSH wire format (RFC 4251). */
function sshString(data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}

/** Hex with colons in lowercase; base64 without the `SHA256:` prefix and padding. */
function normalizeFingerprint(fingerprint: string): string {
  const text = fingerprint.trim();
  return /^[0-9a-f]{2}(:[0-9a-f]{2})+$/i.test(text) ? text.toLowerCase() : text.replace(/^SHA256:/, '').replace(/=+$/, '');
}

/** Hex with colons (MD5, SHA-1, SHA-256) or a base64 SHA-256. */
function isKnownFingerprint(fingerprint: string): boolean {
  const text = normalizeFingerprint(fingerprint);
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){15}$|^[0-9a-f]{2}(:[0-9a-f]{2}){19}$|^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/.test(text) || /^[A-Za-z0-9+/]{43}$/.test(text);
}

/** Runs both checks and throws one error listing every problem. */
export async function assertKeysReady(ec2: EC2Client, keyFile: string, keyName: string, region: string, root: string): Promise<void> {
  // The fingerprint is compared in commission's preflight, which runs before any bake.
  const problems = [...(await checkKeyFile(keyFile, root)), ...(await checkKeyPair(ec2, keyName, region)).problems];
  if (problems.length > 0) throw new ArgosError('CONFIG', problems.join('; '));
}
