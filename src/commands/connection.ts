/**
 * How a command's Ansible and SSH reach the environment's hosts: the user,
 * key, known_hosts file and ssh_config of the run, and the config file when
 * Ansible would not find it by itself.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../config.js';
import type { Context } from '../context.js';
import type { InspectAccess } from '../autoscaling.js';
import type { LocalProcesses } from '../runtime.js';
import type { SshSettings } from '../ssh.js';

/** SSH settings for the environment's hosts (or the bake's, with its own known_hosts). */
export function sshSettings(ctx: Context, knownHostsFile = ctx.paths.knownHostsFile): SshSettings {
  return { user: ctx.config.remoteUser, keyFile: ctx.paths.keyFile, knownHostsFile, sshConfig: ctx.sshConfig, controlDir: ctx.sshControlDir };
}

/** How the health advice tells a person to reach an instance: the hosts file's user and key. */
export function inspectAccess(ctx: Context): InspectAccess {
  return { app: ctx.names.app, env: ctx.env, user: ctx.config.remoteUser, keyFile: relative(ctx.paths.root, ctx.paths.keyFile) || ctx.paths.keyFile };
}

/** `-e @file` for a --config other than group_vars/all.yml, which Ansible would not read by itself. */
export function configVarsFiles(ctx: Context): string[] {
  return ctx.paths.config === join(ctx.paths.root, DEFAULT_CONFIG_PATH) ? [] : [ctx.paths.config];
}

/**
 * Why the run's ssh_config cannot be used (naming the file and whether
 * `--ssh-config` or the config's `ssh_config` gave it), or `undefined` when
 * there is none or it is a file. Checked before SSH is opened: ssh would
 * otherwise fail on every attempt, and argos retry for ten minutes.
 */
export async function findSshConfigProblem(ctx: Context): Promise<string | undefined> {
  if (ctx.sshConfig === undefined) return undefined;
  const given = (ctx.options as { sshConfig?: string }).sshConfig;
  const origin = given !== undefined ? '--ssh-config' : `ssh_config in ${relative(ctx.paths.root, ctx.paths.config)}`;
  try {
    if ((await stat(ctx.sshConfig)).isFile()) return undefined;
    return `the ssh_config ${ctx.sshConfig} (from ${origin}) is not a file: give an OpenSSH client config file`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return `the ssh_config ${ctx.sshConfig} (from ${origin}) does not exist: create it, or fix ${origin === '--ssh-config' ? '--ssh-config' : 'ssh_config'}`;
  }
}

/** The vars directories of argos runs: `argos-vars-<pid>-<random>` in the temporary directory. */
const VARS_DIR = /^argos-vars-(\d+)-/;

/**
 * Removes the vars directories of this user's runs that died without removing
 * theirs (SIGKILL, a crash, a lost machine): each holds the database password.
 * A directory whose process still runs (or whose PID was reused) is kept.
 * Returns the directories removed.
 */
export async function removeStaleVarsDirs(processes: LocalProcesses, dir = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(VARS_DIR.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || pid === processes.pid || processes.isAlive(pid)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    // Only this user's: another user's run, even a dead one, is not ours to touch.
    if (!info?.isDirectory() || (processes.uid !== undefined && info.uid !== processes.uid)) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/**
 * Runs `run` with the extra-vars files the playbooks need: the config (when not
 * group_vars/all.yml) and a private file holding `db_pass`, removed afterwards.
 * The password may come from ARGOS_DB_PASSWORD rather than the config file, and
 * Ansible reads neither argos's environment nor its argv for it (by design: a
 * secret there is visible to every process of the user), so it gets a 0600 file.
 * Its directory is named by this process's PID, so a run killed before its
 * `finally` leaves one the next run removes ({@link removeStaleVarsDirs}).
 */
export async function withPlaybookVars<T>(ctx: Context, run: (varsFiles: string[]) => Promise<T>): Promise<T> {
  const { processes } = ctx.runtime;
  await removeStaleVarsDirs(processes);
  const dir = await mkdtemp(join(tmpdir(), `argos-vars-${processes.pid}-`));
  try {
    const secrets = join(dir, 'secrets.json');
    // JSON is YAML, and JSON.stringify quotes any character the password may hold.
    await writeFile(secrets, JSON.stringify({ db_pass: ctx.config.dbPassword.reveal() }), { mode: 0o600 });
    return await run([...configVarsFiles(ctx), secrets]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One ansible-playbook run of a playbook in playbooks/ on an inventory given as text. */
export interface InventoryRun {
  /** The playbook's file name in playbooks/. */
  playbook: string;
  /** The inventory's text (written to a private temporary file, removed after the run). */
  inventory: string;
  ssh: SshSettings;
  varsFiles: string[];
  limit?: string | undefined;
  forks: number;
}

/**
 * Runs `run.playbook` with its inventory in a private (0600) temporary file:
 * for hosts that are not the environment's hosts file (a temporary instance,
 * app servers prepared before the database exists).
 */
export async function runWithInventory(ctx: Context, run: InventoryRun): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'argos-inventory-'));
  try {
    const inventory = join(dir, 'hosts');
    await writeFile(inventory, run.inventory, { mode: 0o600 });
    await ctx.runtime.runPlaybook({
      playbooks: [join(ctx.paths.playbooks, run.playbook)],
      inventory,
      ssh: run.ssh,
      varsFiles: run.varsFiles,
      limit: run.limit,
      forks: run.forks,
      verbose: ctx.options.verbose,
      signal: ctx.signal,
      onLine: (line) => ctx.reporter.detail(line),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
