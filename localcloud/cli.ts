/**
 * The local cloud's command line (run as root with tsx):
 *
 *   npx tsx localcloud/cli.ts up   [--name lc] [--user ubuntu] [--identity-file KEY] [--delay-ms N]
 *   npx tsx localcloud/cli.ts down [--name lc]
 *   npx tsx localcloud/cli.ts build-base [--user ubuntu]
 *
 * `up` sweeps what a killed run left, builds the base root if needed, creates the
 * namespace and the apt path, prints KEY=VALUE lines and returns (the harness runs
 * detached); `down` stops everything and fails if anything is left.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CACHE_DIR, ensureBase, leftovers, startCloud, sweepCloud } from './cloud.js';
import { join } from 'node:path';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'lc' },
      user: { type: 'string', default: 'ubuntu' },
      'identity-file': { type: 'string' },
      'delay-ms': { type: 'string' },
    },
  });
  const command = positionals[0];
  const name = values.name;
  if (command === 'build-base') {
    process.stdout.write(`BASE=${await ensureBase(DEFAULT_CACHE_DIR, values.user)}\n`);
    return 0;
  }
  if (command === 'up') {
    const cloud = await startCloud({
      name, user: values.user,
      ...(values['identity-file'] ? { identityFile: values['identity-file'] } : {}),
      ...(values['delay-ms'] ? { delayMs: Number(values['delay-ms']) } : {}),
    });
    process.stdout.write(`NETNS=${cloud.netns}\nSTATE_DIR=${cloud.stateDir}\nSSH_CONFIG=${cloud.sshConfigPath}\nUSER=${cloud.user}\n`);
    return 0;
  }
  if (command === 'down') {
    const stateDir = join(DEFAULT_CACHE_DIR, 'run', name);
    await sweepCloud(stateDir, `lc-${name}`);
    const left = await leftovers(stateDir, `lc-${name}`, name);
    for (const l of left) process.stderr.write(`localcloud: left: ${l}\n`);
    process.stdout.write(left.length === 0 ? `localcloud ${name}: down, nothing left\n` : '');
    return left.length === 0 ? 0 : 1;
  }
  process.stderr.write('usage: localcloud/cli.ts up|down|build-base [--name lc] [--user ubuntu] [--identity-file KEY] [--delay-ms N]\n');
  return 2;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error: unknown) => {
  process.stderr.write(`localcloud: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
