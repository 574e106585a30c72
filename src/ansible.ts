/**
 * The one way argos runs Ansible: `ansible-playbook` with an argument array
 * (never a shell string), SSH settings that check host keys, pipelining and a
 * kept master connection, output streamed to the reporter and the log, and an
 * error that names the playbook, the failing hosts and the tail of the output.
 */
import { execa } from 'execa';
import { ArgosError } from './errors.js';
import { listenForGate } from './playbook-gate.js';
import { prepareControlDir, sshOptions, type SshSettings } from './ssh.js';

/** One `ansible-playbook` run. */
export interface PlaybookRun {
  /** Paths of the playbooks, run in this order by one ansible-playbook (e.g. playbooks/site.yml). */
  playbooks: string[];
  /** Path of the inventory file. */
  inventory: string;
  ssh: SshSettings;
  /** Extra variables files (`-e @file`), e.g. a --config file that is not group_vars/all.yml. */
  varsFiles?: string[] | undefined;
  /** Extra variables given on the command line (`-e` JSON): never secrets, argv is visible to every user. */
  extraVars?: Record<string, string | number | boolean> | undefined;
  /** `--limit` pattern. */
  limit?: string | undefined;
  /** Parallel hosts; at least the number of hosts so no host waits for another. */
  forks?: number | undefined;
  verbose?: boolean | undefined;
  signal: AbortSignal;
  /** Each output line (the caller sends it to the reporter: log always, screen with --verbose). */
  onLine: (line: string) => void;
  /**
   * Start now, but let no task reach a host before `opened` resolves (the SSH
   * wait's logins): `playbook` (playbooks/gate.yml) runs first and waits for
   * it on a local port (src/playbook-gate.ts). When `opened` rejects, the run is
   * stopped and throws INTERRUPTED.
   */
  gate?: { playbook: string; opened: Promise<void> } | undefined;
}

/** How many output lines an error carries. */
const TAIL_LINES = 25;

/** Checks `ansible-playbook` is on PATH; the message says how to install it. */
export async function findAnsiblePlaybook(): Promise<string> {
  const result = await execa('ansible-playbook', ['--version'], { reject: false, stdin: 'ignore' });
  if (result.failed || result.exitCode !== 0) {
    throw new ArgosError(
      'CONFIG',
      'ansible-playbook not found on PATH: install ansible-core 2.14 or newer (apt-get install ansible-core, or pipx install ansible-core)',
    );
  }
  return result.stdout.split('\n')[0] ?? 'ansible-playbook';
}

/** Quotes a value for Ansible's ssh_args, which it splits like a shell would. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The argv of a run (exported for tests: it must hold no secret). */
export function playbookArgs(run: PlaybookRun): string[] {
  return [
    '-i', run.inventory,
    '--private-key', run.ssh.keyFile,
    '-u', run.ssh.user,
    '--forks', String(Math.max(run.forks ?? 5, 1)),
    ...(run.limit ? ['--limit', run.limit] : []),
    ...(run.varsFiles ?? []).flatMap((file) => ['-e', `@${file}`]),
    ...(run.extraVars && Object.keys(run.extraVars).length > 0 ? ['-e', JSON.stringify(run.extraVars)] : []),
    ...(run.verbose ? ['-v'] : []),
    ...run.playbooks,
  ];
}

/** The environment of a run: SSH settings, pipelining, strict host keys, no colour codes in the log. */
export function playbookEnvironment(run: PlaybookRun): Record<string, string> {
  return {
    ANSIBLE_SSH_ARGS: sshOptions(run.ssh).map(shellQuote).join(' '),
    ANSIBLE_PIPELINING: 'True',
    // Debian's and Ubuntu's Python 3 (every target argos supports): named, so Ansible skips its
    // interpreter discovery, one more SSH command per host per run before the first task.
    ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
    // Never turned off: accept-new in the SSH args records new hosts and checks known ones.
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    ANSIBLE_NOCOLOR: 'True',
    ANSIBLE_FORCE_COLOR: 'False',
    PYTHONUNBUFFERED: '1',
  };
}

/** What a failed run's output says went wrong. */
export interface PlaybookFailure {
  hosts: string[];
  tasks: string[];
  /** Handlers that failed (a restart after a change, say), apart: they run after the tasks. */
  handlers: string[];
}

/** Reads failing hosts (PLAY RECAP) and the tasks and handlers that failed on them from the output. */
export function parseFailure(lines: readonly string[]): PlaybookFailure {
  const hosts = new Set<string>();
  const failed = { TASK: new Set<string>(), 'RUNNING HANDLER': new Set<string>() };
  let current: { kind: keyof typeof failed; name: string } | undefined;
  for (const line of lines) {
    const heading = /^(TASK|RUNNING HANDLER) \[(.+)\]/.exec(line);
    if (heading?.[1] && heading[2]) current = { kind: heading[1] as keyof typeof failed, name: heading[2] };
    if (/^(fatal|failed):/.test(line) && current) failed[current.kind].add(current.name);
    const recap = /^(\S+)\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)/.exec(line);
    if (recap?.[1] && (Number(recap[2]) > 0 || Number(recap[3]) > 0)) hosts.add(recap[1]);
  }
  return { hosts: [...hosts], tasks: [...failed.TASK], handlers: [...failed['RUNNING HANDLER']] };
}

/** "failed task [t] and handler [h] on host": what an error says of a {@link PlaybookFailure} ('' when nothing is known). */
export function describeFailure(failure: PlaybookFailure): string {
  const list = (names: readonly string[]) => names.map((name) => `[${name}]`).join(', ');
  return [
    failure.tasks.length > 0 ? `failed task ${list(failure.tasks)}` : '',
    // Handlers run even after a failed task (force_handlers): one failing then is named after it.
    failure.handlers.length > 0 ? `${failure.tasks.length > 0 ? 'and' : 'failed'} handler ${list(failure.handlers)}` : '',
    failure.hosts.length > 0 ? `on ${failure.hosts.join(', ')}` : '',
  ].filter(Boolean).join(' ');
}

/** Runs the playbook; resolves on success, throws a FAILED (or INTERRUPTED) ArgosError otherwise. */
export async function runPlaybook(run: PlaybookRun): Promise<void> {
  const names = run.playbooks.map((path) => path.split('/').slice(-2).join('/')).join(' ');
  if (!run.gate) return spawnPlaybook(run, names);
  const gate = await listenForGate(run.gate.opened);
  try {
    await spawnPlaybook(
      {
        ...run,
        playbooks: [run.gate.playbook, ...run.playbooks],
        extraVars: { ...run.extraVars, argos_gate_port: gate.port },
        // The gate play's host: a --limit to some hosts would skip the gate, not wait at it.
        limit: run.limit ? `${run.limit},localhost` : undefined,
        signal: AbortSignal.any([run.signal, gate.stopped]),
      },
      names,
    );
  } catch (error) {
    if (gate.stopped.aborted && !run.signal.aborted) throw new ArgosError('INTERRUPTED', `stopped before ${names} reached a host: the SSH wait did not succeed`);
    throw error;
  } finally {
    await gate.close();
  }
}

/** Runs ansible-playbook as `run` says; `names` are the caller's playbooks, for its errors. */
async function spawnPlaybook(run: PlaybookRun, names: string): Promise<void> {
  const tail: string[] = [];
  const all: string[] = [];
  await prepareControlDir(run.ssh);
  const child = execa('ansible-playbook', playbookArgs(run), {
    env: playbookEnvironment(run),
    all: true,
    reject: false,
    stdin: 'ignore',
    cancelSignal: run.signal,
    // Ansible needs a moment to stop its SSH children cleanly; then it is killed.
    forceKillAfterDelay: 10_000,
  });
  for await (const line of child.iterable({ from: 'all' })) {
    run.onLine(line);
    all.push(line);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  }
  const result = await child;
  if (result.isCanceled || run.signal.aborted) {
    throw new ArgosError('INTERRUPTED', `interrupted while running ${names}`);
  }
  if (result.failed || result.exitCode !== 0) {
    if ((result as { code?: string }).code === 'ENOENT') await findAnsiblePlaybook();
    const failure = parseFailure(all);
    const where = describeFailure(failure);
    throw new ArgosError(
      'FAILED',
      `ansible-playbook ${names} failed (exit ${result.exitCode ?? 'signal'})${where ? `: ${where}` : ''}. Last lines:\n${tail.join('\n')}`,
    );
  }
}
