/**
 * SSH as argos uses it: host keys checked against a per-environment
 * known_hosts file (accept-new, never "no checking"), the user's ssh_config
 * for bastions, and a bounded wait until a new instance answers.
 */
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { ArgosError } from './errors.js';
import { formatDuration } from './reporter.js';
import { systemClock, waitFor, type BoundedProgress } from './wait.js';

/** How to reach hosts. */
export interface SshSettings {
  user: string;
  keyFile: string;
  knownHostsFile: string;
  /** An OpenSSH client config (bastions, ProxyJump; the tests' local-target mapping). */
  sshConfig?: string | undefined;
  /**
   * Where master connections' sockets go, shared by argos's SSH wait and Ansible
   * (see {@link sshControlPath}); unset, Ansible picks its own and the wait makes none.
   */
  controlDir?: string | undefined;
}

/**
 * The longest socket path OpenSSH can bind: sun_path is 108 bytes on Linux, 104 on
 * the BSDs and macOS; ssh also appends a random suffix of up to 17 characters
 * while it creates the socket.
 */
const MAX_CONTROL_PATH = 104 - 17;

/**
 * `<dir>/%C` (ssh's hash of the local host, remote host, port and user), or
 * undefined when the path would be too long for a socket: then Ansible uses
 * its own shorter name and the wait shares nothing.
 */
export function sshControlPath(controlDir: string | undefined): string | undefined {
  if (controlDir === undefined) return undefined;
  const path = `${controlDir.replace(/\/+$/, '')}/%C`;
  // %C expands to 40 hexadecimal characters.
  return path.length - 2 + 40 <= MAX_CONTROL_PATH ? path : undefined;
}

/** Bound for a new instance's SSH to answer. */
export const SSH_TIMEOUT_MS = 10 * 60_000;

/**
 * How long a running instance may drop every SSH connection before argos says
 * that SSH comes from elsewhere than the address it opened. A booting instance
 * refuses connections (its kernel answers) well before this; packets dropped
 * for this long mean the security group does not admit where SSH comes from.
 */
export const DROPPED_SSH_BOUND_MS = 90_000;

/** Runs `ssh` with these arguments (replaced in tests). */
export type SshRunner = (args: string[], signal: AbortSignal) => Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;

const runSsh: SshRunner = async (args, signal) => {
  const result = await execa('ssh', args, { reject: false, cancelSignal: signal, timeout: 30_000, stdin: 'ignore' });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
};

/** How {@link waitForSsh} reaches one host. */
export interface SshTarget {
  /** The name its host key is recorded under (the instance id); default: the address. */
  hostKeyAlias?: string | undefined;
  /** The CIDR the temporary SSH rule admits: named when connections are dropped. */
  openedFrom?: string | undefined;
  /** Runs ssh (tests replace it). */
  run?: SshRunner | undefined;
}

/**
 * Whether ssh's last words say the connection attempt timed out (packets
 * dropped, as a security group does with traffic it does not admit) rather
 * than was refused (a booting host answers with a reset). A timeout during the
 * banner exchange means the TCP connection was made: not dropped.
 */
function isDroppedConnection(reason: string): boolean {
  return /(connection|operation) timed out/i.test(reason) && !/banner/i.test(reason);
}

/** Whether the effective ssh config reaches `host` through a ProxyJump or ProxyCommand (a bastion). */
async function usesProxy(host: string, settings: SshSettings, run: SshRunner, signal: AbortSignal): Promise<boolean> {
  const result = await run([...(settings.sshConfig ? ['-F', settings.sshConfig] : []), '-G', host], signal);
  return /^(proxyjump|proxycommand) (?!none$)\S/im.test(result.stdout);
}

/** Makes the control directory (private: the sockets log in as the user) when there is one to share. */
export async function prepareControlDir(settings: SshSettings): Promise<void> {
  if (sshControlPath(settings.controlDir) && settings.controlDir) await mkdir(settings.controlDir, { recursive: true, mode: 0o700 });
}

/**
 * The `-o` options every SSH connection of argos uses, Ansible's included:
 * host keys recorded on first sight and checked after, a kept master connection.
 * With a control directory, one socket path for the wait and Ansible: the wait's
 * successful login stays up as the master Ansible's first task reuses, which
 * saves each host a second handshake (about 8 round trips: 0.4 s at 50 ms).
 */
export function sshOptions(settings: SshSettings): string[] {
  const controlPath = sshControlPath(settings.controlDir);
  return [
    ...(settings.sshConfig ? ['-F', settings.sshConfig] : []),
    '-o', `UserKnownHostsFile=${settings.knownHostsFile}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ControlMaster=auto',
    '-o', 'ControlPersist=60s',
    ...(controlPath ? ['-o', `ControlPath=${controlPath}`] : []),
    '-o', 'ServerAliveInterval=15',
  ];
}

/** Bound for one `ssh -O exit`: it only talks to the local master's socket. */
const CLOSE_MASTER_TIMEOUT_MS = 10_000;

/**
 * Closes the master connections argos's wait and Ansible kept to `hosts`
 * (ControlPersist would keep each up 60 s after the run). Security groups are
 * stateful: revoking the temporary SSH rule does not cut a connection already
 * made ("When you change a security group rule, its tracked connections are not
 * immediately interrupted", EC2 User Guide, "Security group connection tracking",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html),
 * so the run closes its own before it revokes the rule, and nothing it opened
 * outlives it. No control directory, or no master: nothing to do. Never throws
 * and ignores any abort: it runs on the way out, Ctrl-C included.
 */
export async function closeSshMasters(hosts: readonly string[], settings: SshSettings, run: SshRunner = runSsh): Promise<void> {
  if (!sshControlPath(settings.controlDir)) return;
  await Promise.all(
    hosts.map(async (host) => {
      // The wait's user and host: ssh's %C (local host, remote host, port, user) names the same socket.
      await run([...sshOptions(settings), '-l', settings.user, '-O', 'exit', host], AbortSignal.timeout(CLOSE_MASTER_TIMEOUT_MS)).catch(() => undefined);
    }),
  );
}

/**
 * Waits until `host` accepts an SSH login (and so records its host key under
 * `target.hostKeyAlias`, the instance id: the alias the inventory gives Ansible
 * too); with `settings.controlDir`, that login stays up as the master
 * connection Ansible then reuses (until {@link closeSshMasters}, or 60 s idle).
 * A fresh instance refuses connections for a while: polled, bounded, abortable. When every attempt times out for {@link DROPPED_SSH_BOUND_MS}
 * and no bastion is in the way, it fails at once saying that SSH comes from
 * elsewhere than `target.openedFrom`, and what to set.
 */
export async function waitForSsh(
  host: string,
  settings: SshSettings,
  wait: BoundedProgress,
  target: SshTarget = {},
): Promise<void> {
  const run = target.run ?? runSsh;
  await prepareControlDir(settings);
  const clock = wait.clock ?? systemClock;
  // Through a bastion, the bastion reaches the host, not the caller's address: a timeout says nothing about it.
  const watchDrops = target.openedFrom !== undefined && !(await usesProxy(host, settings, run, wait.signal));
  let droppedSince: number | undefined;
  await waitFor(
    async () => {
      const result = await run(
        [
          ...sshOptions(settings),
          '-o', 'BatchMode=yes',
          '-o', 'ConnectTimeout=10',
          // The same alias as the inventory's, so the key recorded here is the one Ansible checks.
          '-o', `HostKeyAlias=${target.hostKeyAlias ?? host}`,
          '-i', settings.keyFile,
          '-l', settings.user,
          host,
          'true',
        ],
        wait.signal,
      );
      if (result.exitCode === 0) return { done: true, value: undefined };
      const reason = result.stderr.trim().split('\n').pop() || `ssh exited ${result.exitCode ?? '(killed)'}`;
      if (!isDroppedConnection(reason)) droppedSince = undefined;
      else droppedSince ??= clock.now();
      if (watchDrops && droppedSince !== undefined && clock.now() - droppedSince >= DROPPED_SSH_BOUND_MS) {
        throw new ArgosError(
          'FAILED',
          `SSH to ${host} has timed out for ${formatDuration(clock.now() - droppedSince)} while the instance runs: the temporary rule admits SSH only from ` +
            `${target.openedFrom}, and SSH seems to come from elsewhere (argos runs inside the VPC, behind split egress or a VPN). ` +
            'Give the network SSH really comes from with --ssh-cidr <cidr> (or ARGOS_SSH_CIDR, or ssh_cidr in the config), ' +
            'or reach the hosts through a bastion: an ssh_config with ProxyJump, given with --ssh-config or ssh_config',
        );
      }
      return { done: false, state: `SSH not ready: ${reason}` };
    },
    {
      what: `SSH on ${host} to answer`,
      timeoutMs: wait.timeoutMs ?? SSH_TIMEOUT_MS,
      intervalMs: 3_000,
      maxIntervalMs: 10_000,
      signal: wait.signal,
      clock: wait.clock,
      onPoll: wait.onProgress,
    },
  );
}
