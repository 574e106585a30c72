import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { playbookEnvironment, type PlaybookRun } from '../../src/ansible.js';
import { resolveControlDir } from '../../src/context.js';
import { ArgosError } from '../../src/errors.js';
import { closeSshMasters, DROPPED_SSH_BOUND_MS, SSH_TIMEOUT_MS, sshControlPath, sshOptions, waitForSsh, type SshRunner } from '../../src/ssh.js';
import { VirtualClock } from '../support/virtual-clock.js';

const settings = { user: 'ubuntu', keyFile: '/p/keys/k.pem', knownHostsFile: '/p/hosts/known_hosts_staging' };
const TIMED_OUT = 'ssh: connect to host 203.0.113.9 port 22: Connection timed out';
const REFUSED = 'ssh: connect to host 203.0.113.9 port 22: Connection refused';

/**
 * A modelled `ssh`: `-G` prints `config`; a login attempt answers what
 * `answer` says for the time it is made, taking 10 s (ConnectTimeout) when it times out.
 */
function modelledSsh(clock: VirtualClock, answer: (elapsedMs: number) => 'ok' | 'timed out' | 'refused', config = 'hostname 203.0.113.9\nport 22\n'): SshRunner {
  const start = clock.now();
  return async (args) => {
    if (args.includes('-G')) return { exitCode: 0, stdout: config, stderr: '' };
    const state = answer(clock.now() - start);
    if (state === 'ok') return { exitCode: 0, stdout: '', stderr: '' };
    if (state === 'timed out') clock.advance(10_000);
    return { exitCode: 255, stdout: '', stderr: state === 'timed out' ? TIMED_OUT : REFUSED };
  };
}

async function failureOf(promise: Promise<unknown>): Promise<ArgosError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  if (!(error instanceof ArgosError)) throw new Error(`expected an ArgosError, got ${String(error)}`);
  return error;
}

describe('waitForSsh when SSH comes from elsewhere than the address opened', () => {
  it('fails within a short bound, naming the /32 that was opened and what to set, instead of waiting 10 minutes', async () => {
    const clock = new VirtualClock();
    const run = modelledSsh(clock, () => 'timed out');
    const started = clock.now();
    const error = await failureOf(
      waitForSsh('203.0.113.9', settings, { signal: new AbortController().signal, clock }, { hostKeyAlias: 'i-1', openedFrom: '198.51.100.7/32', run }),
    );
    expect(error.code).toBe('FAILED');
    expect(error.message).toContain('the temporary rule admits SSH only from 198.51.100.7/32, and SSH seems to come from elsewhere');
    expect(error.message).toContain('--ssh-cidr <cidr> (or ARGOS_SSH_CIDR, or ssh_cidr in the config)');
    expect(error.message).toContain('ProxyJump, given with --ssh-config or ssh_config');
    const waited = clock.now() - started;
    expect(waited).toBeGreaterThanOrEqual(DROPPED_SSH_BOUND_MS);
    expect(waited).toBeLessThan(2 * 60_000);
  });

  it('keeps waiting while the instance boots: refused connections, or timeouts that stop before the bound', async () => {
    const clock = new VirtualClock();
    // Early boot drops packets for 60 s, then sshd refuses for 3 minutes, then answers.
    const run = modelledSsh(clock, (ms) => (ms < 60_000 ? 'timed out' : ms < 4 * 60_000 ? 'refused' : 'ok'));
    await waitForSsh('203.0.113.9', settings, { signal: new AbortController().signal, clock }, { openedFrom: '198.51.100.7/32', run });
    expect(clock.now()).toBeGreaterThanOrEqual(Date.parse('2026-11-25T10:04:00Z'));
  });

  it('says nothing of the address when a bastion (ProxyJump in the ssh config) reaches the hosts: waits the full bound', async () => {
    const clock = new VirtualClock();
    const started = clock.now();
    const run = modelledSsh(clock, () => 'timed out', 'hostname 203.0.113.9\nproxyjump bastion.example.com\n');
    const error = await failureOf(
      waitForSsh('203.0.113.9', { ...settings, sshConfig: '/p/ssh_config' }, { signal: new AbortController().signal, clock }, { openedFrom: '198.51.100.7/32', run }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).not.toContain('198.51.100.7/32');
    expect(clock.now() - started).toBeGreaterThanOrEqual(SSH_TIMEOUT_MS);
  });
});

describe('one master connection per host for the SSH wait and Ansible', () => {
  it("gives the wait and Ansible the same ControlPath, in Ansible's folder, made private", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'cp-')), 'c');
    try {
      const shared = { ...settings, controlDir: dir };
      const calls: string[][] = [];
      const run: SshRunner = async (args) => {
        calls.push(args);
        return { exitCode: 0, stdout: args.includes('-G') ? 'hostname 203.0.113.9\n' : '', stderr: '' };
      };
      await waitForSsh('203.0.113.9', shared, { signal: new AbortController().signal }, { hostKeyAlias: 'i-1', run });
      const login = calls.find((args) => args.includes('true')) ?? [];
      // ssh takes the first value of an option: ControlMaster=auto, so the wait's login stays up as the master.
      expect(login.filter((arg) => arg.startsWith('ControlMaster='))).toEqual(['ControlMaster=auto']);
      expect(login).toContain(`ControlPath=${dir}/%C`);
      expect(playbookEnvironment({ ssh: shared } as PlaybookRun)['ANSIBLE_SSH_ARGS']).toContain(`-o ControlPath=${dir}/%C`);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    } finally {
      await rm(dirname(dir), { recursive: true, force: true });
    }
  });

  it("closes each host's master through the wait's socket (same options, user and host), whatever ssh answers", async () => {
    const shared = { ...settings, controlDir: '/home/u/.ansible/cp' };
    const calls: string[][] = [];
    const run: SshRunner = async (args, signal) => {
      calls.push(args);
      expect(signal.aborted).toBe(false);
      if (args.at(-1) === '203.0.113.8') throw new Error('ssh vanished');
      // No master for this host (the run failed before the wait reached it): ssh says so and exits 255.
      return args.at(-1) === '203.0.113.9' ? { exitCode: 255, stdout: '', stderr: 'Control socket connect(/home/u/.ansible/cp/x): No such file or directory' } : { exitCode: 0, stdout: '', stderr: 'Exit request sent.' };
    };
    await closeSshMasters(['203.0.113.7', '203.0.113.8', '203.0.113.9'], shared, run);
    expect(calls).toHaveLength(3);
    for (const [index, args] of calls.entries()) {
      expect(args.slice(0, sshOptions(shared).length)).toEqual(sshOptions(shared));
      expect(args.slice(sshOptions(shared).length)).toEqual(['-l', 'ubuntu', '-O', 'exit', `203.0.113.${String(7 + index)}`]);
    }
  });

  it('closes nothing where no socket is shared (Ansible named its own, which it keeps as it always did)', async () => {
    const calls: string[][] = [];
    const run: SshRunner = async (args) => {
      calls.push(args);
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    await closeSshMasters(['203.0.113.7'], settings, run);
    await closeSshMasters(['203.0.113.7'], { ...settings, controlDir: `/home/${'u'.repeat(60)}/.ansible/cp` }, run);
    expect(calls).toEqual([]);
  });

  it('shares nothing when the socket path would be too long for OpenSSH (Ansible then names its own)', () => {
    expect(sshControlPath('/home/u/.ansible/cp')).toBe('/home/u/.ansible/cp/%C');
    const long = `/home/${'u'.repeat(60)}/.ansible/cp`;
    expect(sshControlPath(long)).toBeUndefined();
    expect(sshOptions({ ...settings, controlDir: long }).some((arg) => arg.startsWith('ControlPath='))).toBe(false);
    expect(sshOptions(settings).some((arg) => arg.startsWith('ControlPath='))).toBe(false);
  });

  it("finds Ansible's control_path_dir as Ansible does: ANSIBLE_SSH_CONTROL_PATH_DIR, else ~/.ansible/cp", () => {
    expect(resolveControlDir({ HOME: '/home/u' }, '/p')).toBe('/home/u/.ansible/cp');
    expect(resolveControlDir({ HOME: '/home/u', ANSIBLE_SSH_CONTROL_PATH_DIR: '/tmp/cp' }, '/p')).toBe('/tmp/cp');
    expect(resolveControlDir({ HOME: '/home/u', ANSIBLE_SSH_CONTROL_PATH_DIR: '~/cp' }, '/p')).toBe('/home/u/cp');
    expect(resolveControlDir({ HOME: '/home/u', ANSIBLE_SSH_CONTROL_PATH_DIR: 'cp' }, '/p')).toBe('/p/cp');
    // What argos cannot expand as Ansible would: nothing shared, rather than a folder Ansible does not use.
    expect(resolveControlDir({ HOME: '/home/u', ANSIBLE_SSH_CONTROL_PATH_DIR: '$XDG_RUNTIME_DIR/cp' }, '/p')).toBeUndefined();
    expect(resolveControlDir({ ANSIBLE_SSH_CONTROL_PATH_DIR: '~other/cp', HOME: '/home/u' }, '/p')).toBeUndefined();
    expect(resolveControlDir({}, '/p')).toBeUndefined();
  });
});
