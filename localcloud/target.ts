/**
 * One machine of the local cloud as the target of `./test.sh --provider local`:
 * a Debian 12 machine with systemd as PID 1 in its own cloud (own network
 * namespace, so the roles' services listen on their real ports), reached through
 * the cloud's ssh_config. Run as root with tsx; test.sh calls it.
 *
 *   npx tsx localcloud/target.ts check
 *   npx tsx localcloud/target.ts up     --state-dir DIR [--name rt] [--host NAME] [--copy SRC:DST]... [--apt-cache DIR]
 *   npx tsx localcloud/target.ts reboot --state-dir DIR [--name rt]
 *   npx tsx localcloud/target.ts down   --state-dir DIR [--name rt] [--apt-cache DIR]
 *
 * `up` prints KEY=VALUE lines (SSH_CONFIG, HOST, USER, INSTANCE_ID, PRIVATE_IP) and
 * returns while the machine runs (the cloud's state is in files; the other commands
 * attach to it). `--copy` copies a host path into the machine's root before any
 * playbook runs (the role tests' git fixture); `--apt-cache` seeds the machine's
 * downloaded packages from DIR and `down` harvests them back, so a package is
 * downloaded once per host, not once per role test.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import {
  DEFAULT_CACHE_DIR, attachCloud, canRunLocalCloud, leftovers, startCloud, sweepCloud, type Cloud,
} from './cloud.js';

/** The one machine a role test runs on (any 172.31/16 address; the test's cloud holds nothing else). */
const INSTANCE_ID = 'i-0a1b2c3d4e5f60001';
const PRIVATE_IP = '172.31.10.10';
const APT_ARCHIVES = 'var/cache/apt/archives';

/** The options all commands take. */
interface TargetOptions {
  readonly name: string;
  readonly stateDir: string;
  readonly host: string;
  readonly copies: readonly string[];
  readonly aptCache: string | undefined;
}

/** Copies regular files of `from` into `to` that `to` lacks (apt's .debs; never its lock or partial dir). */
function copyMissingFiles(from: string, to: string): void {
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true });
  for (const file of readdirSync(from, { withFileTypes: true })) {
    if (file.isFile() && file.name.endsWith('.deb') && !existsSync(join(to, file.name))) {
      cpSync(join(from, file.name), join(to, file.name), { preserveTimestamps: true });
    }
  }
}

/** Starts the cloud and its machine, with a key pair of its own in the state directory. */
async function up(options: TargetOptions): Promise<void> {
  mkdirSync(options.stateDir, { recursive: true });
  const key = join(options.stateDir, 'id_ed25519');
  if (!existsSync(key)) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'argos-test-target', '-f', key]);
  const cloud = await startCloud({ name: options.name, identityFile: key });
  try {
    const machine = await cloud.launchMachine({
      instanceId: INSTANCE_ID, privateIp: PRIVATE_IP, publicDnsName: options.host,
      authorizedKey: readFileSync(`${key}.pub`, 'utf8'),
    });
    // The overlay root is mounted on the host while the machine runs: files copied
    // in are there before any playbook, as on an instance whose image holds them.
    for (const copy of options.copies) {
      const [source, target] = copy.split(':');
      if (!source || !target?.startsWith('/')) throw new Error(`--copy needs SRC:/DST, got ${copy}`);
      cpSync(resolve(source), join(machine.root, target), { recursive: true, preserveTimestamps: true });
    }
    if (options.aptCache) copyMissingFiles(options.aptCache, join(machine.root, APT_ARCHIVES));
    process.stdout.write([
      `SSH_CONFIG=${cloud.sshConfigPath}`, `HOST=${options.host}`, `USER=${cloud.user}`,
      `INSTANCE_ID=${INSTANCE_ID}`, `PRIVATE_IP=${PRIVATE_IP}`, `NETNS=${cloud.netns}`, '',
    ].join('\n'));
  } catch (error) {
    await cloud.shutdown().catch(() => undefined);
    throw error;
  }
}

/** Stops everything of the cloud (harvesting apt's downloads first); fails if anything is left. */
async function down(options: TargetOptions): Promise<void> {
  let cloud: Cloud;
  try {
    cloud = attachCloud({ name: options.name });
  } catch {
    // Never started, or already down: startCloud's sweep also clears a killed run.
    const stateDir = join(DEFAULT_CACHE_DIR, 'run', options.name);
    await sweepCloud(stateDir, `lc-${options.name}`);
    const left = await leftovers(stateDir, `lc-${options.name}`, options.name);
    if (left.length > 0) throw new Error(`left: ${left.join('; ')}`);
    return;
  }
  const machine = cloud.machine(INSTANCE_ID);
  if (options.aptCache && machine && existsSync(join(machine.root, APT_ARCHIVES))) {
    copyMissingFiles(join(machine.root, APT_ARCHIVES), options.aptCache);
  }
  await cloud.shutdown();
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'rt' },
      'state-dir': { type: 'string' },
      host: { type: 'string', default: 'ec2-198-51-100-10.compute-1.amazonaws.com' },
      copy: { type: 'string', multiple: true, default: [] },
      'apt-cache': { type: 'string' },
    },
  });
  const command = positionals[0];
  if (command === 'check') {
    const can = canRunLocalCloud();
    if (!can.ok) process.stderr.write(`${can.reason ?? 'the local cloud cannot run here'}\n`);
    return can.ok ? 0 : 1;
  }
  const options: TargetOptions = {
    name: values.name, stateDir: resolve(values['state-dir'] ?? join('.cache', 'test', 'target')),
    host: values.host, copies: values.copy, aptCache: values['apt-cache'] ? resolve(values['apt-cache']) : undefined,
  };
  if (command === 'up') await up(options);
  else if (command === 'reboot') await attachCloud({ name: options.name }).rebootMachine(INSTANCE_ID);
  else if (command === 'down') await down(options);
  else {
    process.stderr.write('usage: localcloud/target.ts check | up|reboot|down --state-dir DIR [--name rt] [--host NAME] [--copy SRC:DST] [--apt-cache DIR]\n');
    return 2;
  }
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error: unknown) => {
  process.stderr.write(`localcloud target: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
