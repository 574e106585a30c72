/**
 * SSH as argos uses it: host keys checked against a per-environment
 * known_hosts file (accept-new, never "no checking"), the user's ssh_config
 * for bastions, and a bounded wait until a new instance answers.
 */
import { execa } from 'execa';
import { waitFor, type BoundedProgress } from './wait.js';

/** How to reach hosts. */
export interface SshSettings {
  user: string;
  keyFile: string;
  knownHostsFile: string;
  /** An OpenSSH client config (bastions, ProxyJump; the tests' local-target mapping). */
  sshConfig?: string | undefined;
}

/** Bound for a new instance's SSH to answer. */
export const SSH_TIMEOUT_MS = 10 * 60_000;

/**
 * The `-o` options every SSH connection of argos uses, Ansible's included:
 * host keys recorded on first sight and checked after, a kept master connection.
 */
export function sshOptions(settings: SshSettings): string[] {
  return [
    ...(settings.sshConfig ? ['-F', settings.sshConfig] : []),
    '-o', `UserKnownHostsFile=${settings.knownHostsFile}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ControlMaster=auto',
    '-o', 'ControlPersist=60s',
    '-o', 'ServerAliveInterval=15',
  ];
}

/**
 * Waits until `host` accepts an SSH login (and so records its host key under
 * `hostKeyAlias`, the instance id: the alias the inventory gives Ansible too).
 * A fresh instance refuses connections for a while: polled, bounded, abortable.
 */
export async function waitForSsh(
  host: string,
  settings: SshSettings,
  wait: BoundedProgress,
  hostKeyAlias: string = host,
): Promise<void> {
  await waitFor(
    async () => {
      const result = await execa(
        'ssh',
        [
          ...sshOptions(settings),
          '-o', 'BatchMode=yes',
          '-o', 'ConnectTimeout=10',
          // A probe must not leave a master connection that outlives the run.
          '-o', 'ControlMaster=no',
          // The same alias as the inventory's, so the key recorded here is the one Ansible checks.
          '-o', `HostKeyAlias=${hostKeyAlias}`,
          '-i', settings.keyFile,
          '-l', settings.user,
          host,
          'true',
        ],
        { reject: false, cancelSignal: wait.signal, timeout: 30_000, stdin: 'ignore' },
      );
      if (result.exitCode === 0) return { done: true, value: undefined };
      const reason = result.stderr.trim().split('\n').pop() || `ssh exited ${result.exitCode}`;
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
