import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKIP_URL, resolveSshCidr, type Fetch } from '../../src/caller.js';
import { checkKeyFile } from '../../src/keys.js';

describe('checkKeyFile', () => {
  async function keyWithMode(mode: number | null): Promise<{ root: string; file: string }> {
    const root = await mkdtemp(join(tmpdir(), 'argos-keys-'));
    await mkdir(join(root, 'keys'));
    const file = join(root, 'keys', 'argos.pem');
    if (mode !== null) {
      await writeFile(file, 'key');
      await chmod(file, mode);
    }
    return { root, file };
  }

  it('accepts a key only its owner can read', async () => {
    const { root, file } = await keyWithMode(0o600);
    expect(await checkKeyFile(file, root)).toEqual([]);
  });

  it.each([0o644, 0o640, 0o604])('says to chmod 600 a key with mode %s', async (mode) => {
    const { root, file } = await keyWithMode(mode);
    expect(await checkKeyFile(file, root)).toEqual([
      `keys/argos.pem can be read by other users (mode ${mode.toString(8)}), so ssh would refuse it: run chmod 600 keys/argos.pem`,
    ]);
  });

  it('says where to put a missing key', async () => {
    const { root, file } = await keyWithMode(null);
    expect(await checkKeyFile(file, root)).toEqual([
      'private key keys/argos.pem not found: save the private key of the EC2 key pair there and run chmod 600 keys/argos.pem',
    ]);
  });
});

describe('resolveSshCidr', () => {
  const answering = (body: string, status = 200): Fetch => async () => ({ ok: status === 200, status, text: async () => body });

  it('uses the given CIDR without any lookup', async () => {
    let asked = false;
    const cidr = await resolveSshCidr('198.51.100.0/24', { fetch: async () => ((asked = true), { ok: true, status: 200, text: async () => '' }) });
    expect(cidr).toBe('198.51.100.0/24');
    expect(asked).toBe(false);
  });

  it('turns the looked-up address into a /32', async () => {
    const urls: string[] = [];
    const fetch: Fetch = async (url) => {
      urls.push(url);
      return { ok: true, status: 200, text: async () => '203.0.113.7\n' };
    };
    expect(await resolveSshCidr(undefined, { fetch })).toBe('203.0.113.7/32');
    expect(urls).toEqual([CHECKIP_URL]);
  });

  it.each([
    ['an HTTP error', answering('', 503), 'HTTP 503'],
    ['garbage', answering('<html>'), "unexpected answer '<html>'"],
    ['a network failure', (async () => { throw new Error('getaddrinfo ENOTFOUND checkip.amazonaws.com'); }) as Fetch, 'getaddrinfo ENOTFOUND'],
  ])('names the option to use after %s', async (_what, fetch, reason) => {
    await expect(resolveSshCidr(undefined, { fetch })).rejects.toMatchObject({
      message: expect.stringContaining(reason),
    });
    await expect(resolveSshCidr(undefined, { fetch })).rejects.toThrow(/pass --ssh-cidr <your-ip>\/32, set ARGOS_SSH_CIDR, or set ssh_cidr in the config$/);
  });

  it('gives up after its timeout', async () => {
    const hanging: Fetch = (_url, init) =>
      new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    await expect(resolveSshCidr(undefined, { fetch: hanging, timeoutMs: 50 })).rejects.toThrow('no answer within 0.05s');
  });
});
