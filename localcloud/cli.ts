/**
 * The local cloud's command line (run as root with tsx):
 *
 *   npx tsx localcloud/cli.ts up --moto URL [--name lc] [--user ubuntu] [--identity-file KEY] [--delay-ms N]
 *   npx tsx localcloud/cli.ts up   [--name lc] [--user ubuntu] [--identity-file KEY] [--delay-ms N]
 *   npx tsx localcloud/cli.ts down [--name lc]
 *   npx tsx localcloud/cli.ts build-base [--user ubuntu]
 *
 * `up --moto URL` runs the harness (harness.ts) in the foreground: it prints the
 * AWS endpoint (the proxy in front of moto) and the ssh_config, and runs until
 * SIGINT/SIGTERM, then stops everything. `up` without `--moto` only starts the
 * machine layer (sweep, base root, namespace, apt path), prints KEY=VALUE lines and
 * returns. `build-base` builds the base root and the PostgreSQL layer (setup.sh).
 * `down` stops everything and fails if anything is left; the next `up` also sweeps
 * what a killed run left.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CACHE_DIR, ensureBase, leftovers, startCloud, sweepCloud } from './cloud.js';
import { ensurePostgresLayer } from './database.js';
import { startHarness } from './harness.js';
import { join } from 'node:path';

async function main(argv: string[]): Promise<number> {
  // The harness's SDK clients talk only to moto; the SDK's notice about Node releases of 2027 is noise here.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'lc' },
      user: { type: 'string', default: 'ubuntu' },
      'identity-file': { type: 'string' },
      'delay-ms': { type: 'string' },
      moto: { type: 'string' },
    },
  });
  const command = positionals[0];
  const name = values.name;
  if (command === 'build-base') {
    process.stdout.write(`BASE=${await ensureBase(DEFAULT_CACHE_DIR, values.user)}\n`);
    const log = (line: string): void => { process.stderr.write(`localcloud: ${line}\n`); };
    // The layer is built in a throw-away cloud; not `lc`, which a running sandbox may be using.
    const buildName = argv.includes('--name') ? name : 'pgb';
    process.stdout.write(`POSTGRES_LAYER=${await ensurePostgresLayer({ user: values.user, log, name: buildName })}\n`);
    return 0;
  }
  if (command === 'up' && values.moto !== undefined) {
    const harness = await startHarness({
      motoEndpoint: values.moto, name, user: values.user,
      ...(values['identity-file'] ? { identityFile: values['identity-file'] } : {}),
      ...(values['delay-ms'] ? { delayMs: Number(values['delay-ms']) } : {}),
    });
    process.stdout.write(`AWS_ENDPOINT_URL=${harness.endpoint}\nSSH_CONFIG=${harness.sshConfigPath}\nNETNS=${harness.cloud.netns}\n`);
    // e.g. the load balancers' local ports, once their plane is plugged in
    for (const plane of harness.planes) for (const line of plane.describe?.() ?? []) process.stdout.write(`${line}\n`);
    process.stdout.write(`localcloud ${name}: up; Ctrl-C (SIGINT) or SIGTERM stops it\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stdout.write(`localcloud ${name}: stopping\n`);
    await harness.stop();
    process.stdout.write(`localcloud ${name}: down, nothing left\n`);
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
  process.stderr.write('usage: localcloud/cli.ts up|down|build-base [--moto URL] [--name lc] [--user ubuntu] [--identity-file KEY] [--delay-ms N]\n');
  return 2;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error: unknown) => {
  process.stderr.write(`localcloud: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
