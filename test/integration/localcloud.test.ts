/**
 * The machine layer of the local cloud (issue 14, points 1-4, 9, 10): real Debian
 * machines with systemd as PID 1 in a sealed namespace, reached only through the
 * ssh_config's ProxyCommand. About 30 s with the base root cached; building it
 * first (debootstrap) adds about 65 s.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftovers, startCloud, type Cloud } from '../../localcloud/cloud.js';
import { mountsUnder, unmountUnder } from '../../localcloud/sweep.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();

const A = { instanceId: 'i-0aaaa00000000000a', privateIp: '172.31.5.9', publicDnsName: 'ec2-54-1-2-3.compute-1.amazonaws.com' };
const B = { instanceId: 'i-0bbbb00000000000b', privateIp: '172.31.7.3', publicDnsName: 'ec2-54-1-2-4.compute-1.amazonaws.com' };
const C = { instanceId: 'i-0cccc00000000000c', privateIp: '172.31.9.7', publicDnsName: 'ec2-54-1-2-5.compute-1.amazonaws.com' };
const USER_DATA = '#!/bin/sh\necho "user data on $(hostname)" >> /var/tmp/user-data-ran\n';

describe.skipIf(!capability.ok)(`local cloud machines${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let cloud: Cloud;
  let keyDir: string;
  let publicKey: string;

  const ssh = async (host: string, command: string): Promise<string> =>
    (await execa('ssh', ['-F', cloud.sshConfigPath, '-o', 'BatchMode=yes', host, command])).stdout.trim();

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'argos-lc-'));
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    publicKey = await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8');
    // GIVEN a cloud with two machines from the base image
    // LOCALCLOUD_TEST_NAME: another name where several worktrees run this test at once (one namespace each)
    cloud = await startCloud({ name: process.env['LOCALCLOUD_TEST_NAME'] ?? 'lct', identityFile: join(keyDir, 'id_ed25519') });
    await cloud.launchMachine({ ...A, authorizedKey: publicKey, userData: USER_DATA });
    await cloud.launchMachine({ ...B, authorizedKey: publicKey, userData: USER_DATA });
  }, 240_000);

  afterAll(async () => {
    await cloud?.shutdown();
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  }, 60_000);

  it('boots machines with systemd as PID 1 that answer ssh through the ProxyCommand, each with its own identity', async () => {
    const facts = await Promise.all([A, B].map(async (m) =>
      (await ssh(m.publicDnsName, 'ps -p 1 -o comm=; cat /etc/machine-id; cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub; hostname')).split('\n')));
    expect(facts[0]?.[0]).toBe('systemd');
    expect(facts[1]?.[0]).toBe('systemd');
    expect(facts[0]?.[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(facts[0]?.[1]).not.toBe(facts[1]?.[1]);
    expect(facts[0]?.[2]).not.toBe(facts[1]?.[2]);
    expect(facts[0]?.[3]).toBe('ip-172-31-5-9');
    // THEN the host's namespace cannot dial the VPC (the guard route), only the namespace can
    const route = await execa('ip', ['route', 'get', A.privateIp], { reject: false });
    expect(route.exitCode).not.toBe(0);
  });

  it('lets machine A reach machine B by its ec2.internal name', async () => {
    const banner = await ssh(A.publicDnsName,
      `python3 -c 'import socket; s=socket.create_connection(("ip-172-31-7-3.ec2.internal", 22), timeout=5); print(s.recv(64).decode())'`);
    expect(banner).toMatch(/^SSH-2\.0-OpenSSH/);
    // and has no route off the machine
    const out = await ssh(A.publicDnsName, 'ip route get 1.1.1.1 2>&1 || true');
    expect(out).toMatch(/unreachable/i);
  });

  it('installs packages only from Debian\'s archive, through the namespace\'s apt proxy', async () => {
    expect(await ssh(B.publicDnsName, 'sudo apt-get update -qq >/dev/null 2>&1 && echo ok')).toBe('ok');
    const denied = await ssh(B.publicDnsName,
      `python3 -c 'import urllib.request as u
o = u.build_opener(u.ProxyHandler({"http": "http://172.31.0.1:3142"}))
try: o.open("http://example.com/", timeout=10)
except Exception as e: print(getattr(e, "code", e))' 2>&1`);
    expect(denied).toBe('403');
  }, 60_000);

  it('runs user data once, and not again after a reboot that brings SSH back', async () => {
    expect(await ssh(A.publicDnsName, 'systemctl is-active lc-user-data; cat /var/tmp/user-data-ran')).toBe('active\nuser data on ip-172-31-5-9');
    const bootBefore = await ssh(A.publicDnsName, 'cat /proc/sys/kernel/random/boot_id');
    await cloud.rebootMachine(A.instanceId);
    expect(await ssh(A.publicDnsName, 'cat /proc/sys/kernel/random/boot_id')).not.toBe(bootBefore);
    expect(await ssh(A.publicDnsName, 'wc -l < /var/tmp/user-data-ran')).toBe('1');
  }, 90_000);

  it('launches a machine from an image of A that has A\'s files and its own identity', async () => {
    await ssh(A.publicDnsName, 'echo made-on-A | sudo tee /etc/marker >/dev/null');
    const idA = await ssh(A.publicDnsName, 'cat /etc/machine-id');
    await cloud.stopMachine(A.instanceId);
    await cloud.createImage(A.instanceId, 'ami-0123456789abcdef0');
    await cloud.launchMachine({ ...C, authorizedKey: publicKey, imageId: 'ami-0123456789abcdef0', userData: USER_DATA });
    const [marker, idC, host] = (await ssh(C.publicDnsName, 'cat /etc/marker; cat /etc/machine-id; hostname')).split('\n');
    expect(marker).toBe('made-on-A');
    expect(idC).not.toBe(idA);
    expect(host).toBe('ip-172-31-9-7');
    // user data runs again for the new instance id (per instance, as cloud-init does), after A's run in the image
    expect(await ssh(C.publicDnsName, 'cat /var/tmp/user-data-ran')).toBe('user data on ip-172-31-5-9\nuser data on ip-172-31-9-7');
    await expect(cloud.deleteImage('ami-0123456789abcdef0')).rejects.toThrow(/terminate them first/);
    await cloud.terminateMachine(C.instanceId);
    expect(await cloud.deleteImage('ami-0123456789abcdef0')).toBe(true);
    await cloud.startMachine(A.instanceId);
    expect(await ssh(A.publicDnsName, 'cat /etc/marker')).toBe('made-on-A');
  }, 90_000);

  it('detects a poweroff inside a machine', async () => {
    await ssh(B.publicDnsName, 'sudo systemctl --no-block poweroff');
    await cloud.waitForStopped(B.instanceId, 30_000);
    expect(cloud.machineState(B.instanceId)).toBe('stopped');
    expect(cloud.machineState(A.instanceId)).toBe('running');
  });

  it('leaves nothing behind after shutdown', async () => {
    const { stateDir, netns, name } = cloud;
    await cloud.shutdown();
    expect(await leftovers(stateDir, netns, name)).toEqual([]);
  }, 60_000);
});

describe.skipIf(!capability.ok)(`local cloud sweep${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  it('finds and unmounts mounts under a directory reached through a symlink (the kernel records the resolved path)', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'argos-sweep-'));
    const real = join(scratch, 'real');
    const link = join(scratch, 'link');
    await mkdir(join(real, 'm'), { recursive: true });
    await symlink(real, link);
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', join(real, 'm')]);
    try {
      expect(mountsUnder(link)).toEqual([join(real, 'm')]);
      await unmountUnder(link);
      expect(mountsUnder(real)).toEqual([]);
    } finally {
      await execa('umount', [join(real, 'm')], { reject: false });
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
