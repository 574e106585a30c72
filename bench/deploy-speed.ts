/**
 * Deploy speed: the real `ansible-playbook` against 1 and 3 real local targets
 * (test/support/local-target.ts), argos's way against the original's way, on
 * the same playbooks, inventory, ssh_config and targets, in alternating runs.
 *
 * - argos: src/ansible.ts `runPlaybook` exactly as `argos <env> deploy` calls
 *   it: one ansible-playbook of every role's playbook, pipelining, kept SSH
 *   master connections (ControlPersist), forks ≥ hosts, no -v.
 * - original (argos.cloud's manage.py): one ansible-playbook per role,
 *   `-vvvv`, no pipelining, default forks (5), Ansible's default SSH
 *   arguments (which do keep master connections: `-C -o ControlMaster=auto -o
 *   ControlPersist=60s`). Its output goes to a file, as cheaply as it can be
 *   written (the original printed it to the terminal). Without pipelining,
 *   becoming the app user needs world-readable temporary module files (the
 *   targets have no setfacl), which Ansible 1.x, the original's, always used.
 *
 * The roles are those argos deploys to an environment without a broker: the
 * app servers (`app.yml`: the image role, which updates the code, then the app
 * role: config, uWSGI, nginx) and the database (`database.yml` on the first
 * app server, against a PostgreSQL stand-in for RDS on the first target).
 * Every run starts with no SSH master connection (a fresh control-path folder,
 * whose masters are closed afterwards), so neither side reuses the other's.
 * Measured: a re-deploy of converged hosts (the everyday deploy), after a
 * warm-up that converges them. One fleet of the largest target count serves
 * every count: 1 target is the first host of the 3.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { runPlaybook, type PlaybookRun } from '../src/ansible.js';
import { renderInventory, type Inventory, type InventoryHost } from '../src/hosts.js';
import type { SshSettings } from '../src/ssh.js';
import { startLocalTarget, type LocalTarget } from '../test/support/local-target.js';
import { makeTargetProject, type TargetProject } from '../test/support/target-project.js';
import { freeServicePort } from './ports.js';
import { ratioOfMedians, summarize, timeMs, type Summary } from './stats.js';

/** The playbooks both sides run, in argos's order (site.yml's, without broker and workers). */
export const DEPLOY_PLAYBOOKS = ['app.yml', 'database.yml'] as const;

/** Ansible's own default SSH arguments (ansible-core's ssh connection plugin), which the original ran with. */
const ANSIBLE_DEFAULT_SSH_ARGS = '-C -o ControlMaster=auto -o ControlPersist=60s';

/** Result of one target count. */
export interface DeploySpeedResult {
  targets: number;
  playbooks: readonly string[];
  argosMs: Summary;
  originalMs: Summary;
  /** argos median / original median (goal: ≤ 0.5). */
  ratio: number;
}

/** Local targets standing in for the app servers, and the files that reach them. */
interface Fleet {
  project: TargetProject;
  targets: LocalTarget[];
  hosts: InventoryHost[];
  /** `inventories[n]`: argos's inventory of the first n hosts (the database stand-in is on the first). */
  inventories: Map<number, string>;
  ssh: SshSettings;
  /** Per-host nginx ports, to check the app answers after the warm-up. */
  nginxPorts: number[];
  stop(): Promise<void>;
}

/** What one deploy runs against: the fleet and the inventory of some of its hosts. */
interface DeployTarget {
  fleet: Fleet;
  inventory: string;
  hostCount: number;
}

/** An EC2-style public DNS name for the `index`th host. */
function hostName(index: number): string {
  return `ec2-198-51-100-${10 + index}.compute-1.amazonaws.com`;
}

/** One `Host` block mapping an EC2-style name to a local target and its key. */
function sshConfigBlock(name: string, target: LocalTarget): string {
  return [
    `Host ${name}`,
    '  HostName 127.0.0.1',
    `  Port ${target.port}`,
    `  User ${target.user}`,
    `  IdentityFile ${target.keyPath}`,
    '  IdentitiesOnly yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

/**
 * Starts `count` local targets: the first through the tests' target project
 * (the scratch project, the sample app's git repository, the config), the
 * others bound to the same repository.
 */
async function startTargets(count: number): Promise<{ project: TargetProject; targets: LocalTarget[] }> {
  const project = await makeTargetProject();
  const targets = project.target ? [project.target] : [];
  try {
    while (targets.length < count) {
      targets.push(await startLocalTarget({ binds: [{ source: join(project.root, 'sample-app.git'), target: '/srv/fixtures/sample-app.git' }] }));
    }
    return { project, targets };
  } catch (error) {
    for (const target of targets.slice(1)) await target.stop();
    await project.stop();
    throw error;
  }
}

/**
 * Writes what argos would have for these hosts: `hosts/hosts_bench` (rendered
 * by argos's own renderInventory), an ssh_config mapping each host name to its
 * target, and `playbooks/host_vars/<host>.yml` giving each host its own
 * loopback ports (the targets share the machine's network).
 */
async function writeFleetFiles(root: string, targets: LocalTarget[], counts: readonly number[]): Promise<Omit<Fleet, 'project' | 'targets' | 'stop'>> {
  const hosts: InventoryHost[] = targets.map((_, index) => ({
    address: hostName(index),
    instanceId: `i-0bench${String(index).padStart(12, '0')}`,
    privateDnsName: `ip-10-0-0-${10 + index}.ec2.internal`,
    privateIpAddress: `10.0.0.${10 + index}`,
    securityGroupIds: [],
  }));
  const nginxPorts: number[] = [];
  await mkdir(join(root, 'playbooks', 'host_vars'), { recursive: true });
  for (const host of hosts) {
    const ports = { app_port: await freeServicePort(), app_nginx_port: await freeServicePort() };
    nginxPorts.push(ports.app_nginx_port);
    await writeFile(join(root, 'playbooks', 'host_vars', `${host.address}.yml`), stringify(ports));
  }
  const keyFile = join(root, 'keys', 'argos-test.pem');
  const vars: Inventory['vars'] = {
      env_name: 'bench',
      app_name: 'argos',
      db_host: '127.0.0.1',
      db_port: await freeServicePort(),
      db_name: 'argos_bench',
      broker_host: undefined,
      ansible_user: targets[0]?.user ?? 'ubuntu',
      ansible_ssh_private_key_file: keyFile,
  };
  await mkdir(join(root, 'hosts'), { recursive: true });
  const inventories = new Map<number, string>();
  for (const count of counts) {
    const path = join(root, 'hosts', `hosts_bench_${count}`);
    await writeFile(path, renderInventory({ groups: { appservers: hosts.slice(0, count), brokers: [], workers: [] }, vars }));
    inventories.set(count, path);
  }
  const sshConfig = join(root, 'hosts', 'ssh_config_bench');
  await writeFile(sshConfig, hosts.map((host, index) => sshConfigBlock(host.address, targets[index] as LocalTarget)).join('\n'));
  return {
    hosts,
    inventories,
    ssh: { user: vars.ansible_user, keyFile, knownHostsFile: join(root, 'hosts', 'known_hosts_bench'), sshConfig },
    nginxPorts,
  };
}

/** Starts as many targets as the largest of `counts` and writes the files that reach them; `stop()` stops every target. */
async function startFleet(counts: readonly number[]): Promise<Fleet> {
  const { project, targets } = await startTargets(Math.max(...counts));
  const stop = async () => {
    for (const target of targets.slice(1)) await target.stop();
    await project.stop();
  };
  try {
    return { project, targets, ...(await writeFleetFiles(project.root, targets, counts)), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Runs `run` with a fresh SSH control-path folder (so it starts with no master
 * connection), then closes the masters it left and removes the folder.
 */
export async function withFreshControlPath<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp('/tmp/argos-bench-cp-');
  try {
    return await run(dir);
  } finally {
    for (const socket of await readdir(dir).catch(() => [])) {
      await execa('ssh', ['-O', 'exit', '-o', `ControlPath=${join(dir, socket)}`, 'bench-master'], { reject: false, timeout: 10_000 });
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * argos's deploy: src/ansible.ts runPlaybook, as src/commands/deploy.ts calls it.
 * `varsFiles` only for playbooks outside playbooks/ (the config is group_vars there).
 */
async function argosDeploy({ fleet, inventory, hostCount }: DeployTarget, playbooks: readonly string[] = DEPLOY_PLAYBOOKS, varsFiles: string[] = []): Promise<void> {
  await withFreshControlPath(async (dir) => {
    // runPlaybook's child inherits the environment; only the control-path folder is the benchmark's.
    process.env['ANSIBLE_SSH_CONTROL_PATH_DIR'] = dir;
    try {
      const run: PlaybookRun = {
        playbooks: playbooks.map((name) => join(fleet.project.root, 'playbooks', name)),
        inventory,
        ssh: fleet.ssh,
        varsFiles,
        forks: Math.max(5, hostCount),
        signal: new AbortController().signal,
        onLine: () => undefined,
      };
      await runPlaybook(run);
    } finally {
      delete process.env['ANSIBLE_SSH_CONTROL_PATH_DIR'];
    }
  });
}

/** One original-style deploy: where its files are and how it reaches the hosts. */
export interface OriginalRun {
  /** The project: its playbooks/ folder, and where each playbook's output goes. */
  root: string;
  inventory: string;
  keyFile: string;
  user: string;
  playbooks: readonly string[];
  /** Appended to Ansible's default SSH arguments (`-F ssh_config`, known hosts). */
  sshArgs: string;
  /** More environment for ansible-playbook (e.g. HOME). */
  env?: Record<string, string>;
}

/**
 * The original's deploy (argos.cloud's manage.py): one `ansible-playbook -vvvv`
 * per role, no pipelining, default forks, Ansible's default SSH arguments,
 * output to a file; starts with no SSH master connection.
 */
export async function runOriginalPlaybooks(run: OriginalRun): Promise<void> {
  await withFreshControlPath(async (dir) => {
    for (const playbook of run.playbooks) {
      const log = join(run.root, `original-${playbook}.log`);
      // converged_enabled=false: the original ran every task every time; argos's check that skips a
      // converged server (playbooks/roles/converged) is part of what is measured on argos's side only.
      const args = ['-i', run.inventory, '--private-key', run.keyFile, '-u', run.user, '-vvvv', '-e', 'converged_enabled=false', join(run.root, 'playbooks', playbook)];
      const result = await execa('ansible-playbook', args, {
        // No ansible.cfg from elsewhere: only the environment below and Ansible's defaults.
        cwd: run.root,
        env: {
          ANSIBLE_PIPELINING: 'False',
          // Without pipelining, becoming the app user needs world-readable module files
          // (the targets have no setfacl); Ansible 1.x, which the original ran on, did so always.
          ANSIBLE_SHELL_ALLOW_WORLD_READABLE_TEMP: 'True',
          ANSIBLE_SSH_ARGS: `${ANSIBLE_DEFAULT_SSH_ARGS} ${run.sshArgs}`,
          ANSIBLE_SSH_CONTROL_PATH_DIR: dir,
          ANSIBLE_HOST_KEY_CHECKING: 'True',
          ANSIBLE_RETRY_FILES_ENABLED: 'False',
          ANSIBLE_NOCOLOR: 'True',
          ...run.env,
        },
        stdin: 'ignore',
        stdout: { file: log },
        stderr: { file: log, append: true },
        reject: false,
      });
      if (result.exitCode !== 0) {
        const tail = (await readFile(log, 'utf8')).split('\n').slice(-30).join('\n');
        throw new Error(`original-style ansible-playbook ${playbook} failed (exit ${result.exitCode}):\n${tail}`);
      }
    }
  });
}

/** The original's deploy to the local targets. */
async function originalDeploy({ fleet, inventory }: DeployTarget): Promise<void> {
  const { ssh } = fleet;
  await runOriginalPlaybooks({
    root: fleet.project.root,
    inventory,
    keyFile: ssh.keyFile,
    user: ssh.user,
    playbooks: DEPLOY_PLAYBOOKS,
    sshArgs: `-F ${ssh.sshConfig ?? ''} -o UserKnownHostsFile=${ssh.knownHostsFile} -o StrictHostKeyChecking=accept-new`,
  });
}

/** Throws unless every host's nginx serves the sample app (the deploy really converged). */
async function checkAppAnswers(fleet: Fleet): Promise<void> {
  for (const port of fleet.nginxPorts) {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    if (response.status !== 200) throw new Error(`nginx on 127.0.0.1:${port} answered ${response.status} after the warm-up deploy`);
  }
}

/** The deploy target of all the fleet's hosts. */
function wholeFleet(fleet: Fleet): DeployTarget {
  const hostCount = fleet.hosts.length;
  return { fleet, inventory: fleet.inventories.get(hostCount) ?? '', hostCount };
}

/**
 * The warm-up, on every host: the database stand-in
 * (playbooks/tests/database/prepare.yml, which also runs the image role),
 * then a first deploy that converges the hosts, so both sides measure a
 * converged re-deploy.
 */
async function warmUp(fleet: Fleet): Promise<void> {
  const all = wholeFleet(fleet);
  await argosDeploy(all, ['tests/database/prepare.yml'], [join(fleet.project.root, 'playbooks', 'group_vars', 'all.yml')]);
  await argosDeploy(all);
  await checkAppAnswers(fleet);
}

/** `runs` deploys of each side on the first `hostCount` hosts, alternating in ABBA order. */
async function compare(fleet: Fleet, hostCount: number, runs: number, log: (line: string) => void): Promise<DeploySpeedResult> {
  const target: DeployTarget = { fleet, inventory: fleet.inventories.get(hostCount) ?? '', hostCount };
  const times = { argos: [] as number[], original: [] as number[] };
  for (let round = 0; round < runs; round += 1) {
    // ABBA: a drift in the machine's load falls on both sides alike.
    const order = round % 2 === 0 ? (['argos', 'original'] as const) : (['original', 'argos'] as const);
    for (const side of order) {
      const ms = await timeMs(() => (side === 'argos' ? argosDeploy(target) : originalDeploy(target)));
      times[side].push(ms);
      log(`deploy speed: ${hostCount} target(s), ${side} run ${round + 1}/${runs}: ${(ms / 1000).toFixed(1)} s`);
    }
  }
  const argosMs = summarize(times.argos);
  const originalMs = summarize(times.original);
  return { targets: hostCount, playbooks: DEPLOY_PLAYBOOKS, argosMs, originalMs, ratio: ratioOfMedians(argosMs, originalMs) };
}

/** What {@link measureDeploySpeed} returns. */
export interface DeploySpeedReport {
  results: DeploySpeedResult[];
  /** The warm-up on every target (database stand-in, first converge). */
  warmUpMs: number;
}

/**
 * Measures argos's deploy against the original's on each of `targetCounts`
 * targets (one fleet of the largest count, smaller counts on its first hosts),
 * `runs` times each side.
 */
export async function measureDeploySpeed(targetCounts: readonly number[], runs: number, log: (line: string) => void): Promise<DeploySpeedReport> {
  log(`deploy speed: starting ${Math.max(...targetCounts)} local target(s)`);
  const fleet = await startFleet(targetCounts);
  try {
    log('deploy speed: warm-up (database stand-in, first converge)');
    const warmUpMs = await timeMs(() => warmUp(fleet));
    const results: DeploySpeedResult[] = [];
    for (const count of targetCounts) results.push(await compare(fleet, count, runs, log));
    return { results, warmUpMs };
  } finally {
    await fleet.stop();
  }
}
