/**
 * The CLI as a user runs it: a spawned process, its one-line messages and exit codes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/command-names.js';
import { COMMAND_OPTIONS, COMMON_OPTIONS, type OptionDeclaration } from '../../src/command-options.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, REPO_ROOT, runCli, sampleConfig } from '../support/cli.js';

const CANARY = 'canary-Secret-9f3b2c';
let project: string;

beforeAll(async () => {
  project = await makeProject();
});

const run = (args: string[], env: Record<string, string> = fakeAwsEnvironment, cwd = project) => runCli(args, { cwd, env });

describe('help', () => {
  it('explains every command with an example and exits 0', async () => {
    const result = await run(['--help']);
    expect(result.exitCode).toBe(0);
    for (const command of ['commission', 'deploy', 'decommission', 'clean', 'status']) {
      expect(result.stdout).toContain(`<env> ${command}`);
      expect(result.stdout).toMatch(new RegExp(`\\$ argos staging ${command}`));
    }
    expect(result.stdout).toContain('Usage: argos <env> <command> [options]');
  });

  it("explains a command's options, the original's spellings included", async () => {
    const result = await run(['staging', 'commission', '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('Usage: argos <env> commission [options]');
    for (const flag of ['--min-size', '--min_size', '--max-size', '--instance-type', '--db-instance-type', '--with-broker', '--no-deploy', '--config', '--ssh-cidr', '--ssh-config', '--verbose']) {
      expect(result.stdout).toContain(flag);
    }
  });

  it.each(COMMANDS)("lists each of %s's declared options with its description and default, and hides the ones that do nothing", async (command) => {
    const result = await run(['staging', command, '--help']);
    expect(result.exitCode).toBe(0);
    const help = result.stdout.replace(/\s+/g, ' ');
    for (const declaration of Object.values<OptionDeclaration>({ ...COMMAND_OPTIONS[command], ...COMMON_OPTIONS })) {
      if (declaration.hidden) {
        expect(help).not.toContain(`${declaration.flags} `);
        continue;
      }
      const shown = declaration.default !== undefined ? `${declaration.description} (default: ${declaration.default})` : declaration.description;
      expect(help).toContain(`${declaration.flags} `);
      expect(help).toContain(shown);
    }
  });

  it('prints the version', async () => {
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await run(['--version']);
    expect(result).toMatchObject({ exitCode: 0, stdout: version });
  });

  it('loads no AWS SDK module, nor zod, for --help', async () => {
    const traceFile = join(await mkdtemp(join(tmpdir(), 'argos-trace-')), 'imports.txt');
    const result = await runCli(['--help'], {
      cwd: project,
      env: { ARGOS_TRACE_FILE: traceFile },
      nodeArgs: ['--import', join(REPO_ROOT, 'test', 'support', 'trace-imports.mjs')],
    });
    expect(result.exitCode).toBe(0);
    const loaded = await readFile(traceFile, 'utf8');
    expect(loaded).toContain('/dist/cli.js'); // the trace works
    expect(loaded).toContain('commander');
    expect(loaded).not.toMatch(/@aws-sdk|@smithy/);
    // The option declarations are read for --help; their validators are built only to run a command.
    expect(loaded).toContain('/dist/command-options.js');
    expect(loaded).not.toMatch(/\/node_modules\/zod\//);
  });

  it('rejects a bad option value before loading the AWS SDK', async () => {
    const traceFile = join(await mkdtemp(join(tmpdir(), 'argos-trace-')), 'imports.txt');
    const result = await runCli(['staging', 'commission', '--min-size', 'two'], {
      cwd: project,
      env: { ARGOS_TRACE_FILE: traceFile },
      nodeArgs: ['--import', join(REPO_ROOT, 'test', 'support', 'trace-imports.mjs')],
    });
    expect(result).toMatchObject({ exitCode: 2, stderr: "argos: --min-size must be a whole number, not 'two'" });
    const loaded = await readFile(traceFile, 'utf8');
    expect(loaded).toContain('/dist/run.js'); // the trace works: the command ran as far as validation
    expect(loaded).not.toMatch(/@aws-sdk|@smithy/);
  });
});

describe('usage errors exit 2 with one line saying what to do', () => {
  it.each([
    [['staging', 'launch'], "argos: unknown command 'launch': use one of commission, deploy, rollback, decommission, clean, status"],
    [['staging'], "argos: missing command after 'staging': use one of commission, deploy, rollback, decommission, clean, status (e.g. argos staging status)"],
    [['commission'], 'argos: missing environment name: type it before the command, e.g. argos staging commission'],
    [['Staging', 'status'], "argos: invalid environment name 'Staging': use lowercase letters, digits and single hyphens"],
    [['prod--eu', 'status'], "argos: invalid environment name 'prod--eu'"],
    [['staging', 'commission', '--min-size', 'two'], "argos: --min-size must be a whole number, not 'two'"],
    [['staging', 'commission', '--min_size', '5', '--max_size', '3'], 'argos: --min-size (5) must not be greater than --max-size (3)'],
    [['staging', 'commission', '--instance-type', 'huge'], 'argos: --instance-type must be an instance type such as t3.small'],
    [['staging', 'deploy', '--roles', 'app,web'], "argos: --roles: unknown role 'web'; valid roles: app, database, broker, worker"],
    [['staging', 'deploy', '--ssh-cidr', '0.0.0.0/0'], "argos: --ssh-cidr: '0.0.0.0/0' is too wide for SSH ingress"],
    // status opens no SSH: it takes no SSH option at all.
    [['staging', 'status', '--ssh-cidr', '203.0.113.7'], "argos: unknown option '--ssh-cidr' (see argos <env> <command> --help)"],
    [['--yes', 'staging', 'decommission'], 'argos: options go after the environment and the command: argos staging decommission --yes'],
    [['status', 'status'], "argos: 'status' cannot name an environment: it is the name of a command; choose another name (for example: staging)"],
    [['staging', 'commission', '--bogus'], "argos: unknown option '--bogus' (see argos <env> <command> --help)"],
    [['staging', 'deploy', '--roles'], "argos: option '--roles <list>' argument missing"],
  ])('argos %j', async (args, message) => {
    const result = await run(args);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
  });

  it('says how long the environment name may be when a derived name is too long', async () => {
    const result = await run([`a${'b'.repeat(22)}`, 'status']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      `argos: environment name 'a${'b'.repeat(22)}' is too long: the load balancer name 'argos-a${'b'.repeat(22)}-elb' would have 33 characters and AWS allows 32; with app 'argos' use an environment name of at most 22 characters`,
    );
  });

  it('blames the app name when even a one-letter environment would not fit', async () => {
    const long = await makeProject(sampleConfig({ app_name: 'averyveryverylongapplicationname' }));
    const result = await run(['x', 'status'], fakeAwsEnvironment, long);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      "argos: app_name 'averyveryverylongapplicationname' is too long: even with a one-letter environment the load balancer name 'averyveryverylongapplicationname-x-elb' would have 38 characters and AWS allows 32; use an app_name of at most 26 characters",
    );
    await rm(long, { recursive: true });
  });

  it('shows defaults unquoted, and no option that does nothing for the command', async () => {
    for (const command of COMMANDS) {
      const help = (await run(['staging', command, '--help'])).stdout.replace(/\s+/g, ' ');
      expect(help, command).toContain('(default: playbooks/group_vars/all.yml)');
      expect(help, command).not.toContain('default: "');
      if (command === 'commission' || command === 'deploy') continue;
      expect(help, command).not.toMatch(/--ssh-cidr|--ssh-config/);
      expect(help.includes('--yes'), command).toBe(command !== 'status');
    }
  });

  it('prints help and exits 2 when given nothing', async () => {
    const result = await run([]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('Usage: argos <env> <command> [options]');
  });
});

describe('configuration errors exit 2', () => {
  it('says to copy the sample when the config is missing', async () => {
    const empty = await makeProject(null);
    const result = await run(['staging', 'status'], fakeAwsEnvironment, empty);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      'argos: config file playbooks/group_vars/all.yml not found: copy the sample and edit it (cp playbooks/group_vars/all-sample.yml playbooks/group_vars/all.yml), or pass --config <file>',
    );
    await rm(empty, { recursive: true });
  });

  it('names the file, the key and the type, and never the password', async () => {
    const bad = await makeProject(sampleConfig({ app_port: 'http', key_name: undefined }));
    const result = await run(['staging', 'status'], fakeAwsEnvironment, bad);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      "argos: config file playbooks/group_vars/all.yml: missing key 'key_name' (expected string); key 'app_port' must be a number, not a string",
    );
    expect(result.stdout + result.stderr).not.toContain(CANARY);
  });

  it('says a file is in the way of the log folder instead of a raw EEXIST', async () => {
    const blocked = await makeProject();
    await writeFile(join(blocked, 'logs'), 'not a folder\n');
    const result = await run(['staging', 'status'], fakeAwsEnvironment, blocked);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(`argos: cannot write the log ${join(blocked, 'logs', 'argos-staging.log')}: ${join(blocked, 'logs')} is a file, not a folder: move it out of the way`);
    await rm(blocked, { recursive: true });
  });

  it('runs status without a database password, which it never uses', async () => {
    const { db_pass: _omitted, ...rest } = sampleConfig();
    const passwordless = await makeProject(rest);
    const result = await run(['staging', 'status'], fakeAwsEnvironment, passwordless);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const commission = await run(['staging', 'commission', '--dry-run'], fakeAwsEnvironment, passwordless);
    expect(commission.exitCode).toBe(2);
    expect(commission.stderr).toContain('no database password: set db_pass in playbooks/group_vars/all.yml or the ARGOS_DB_PASSWORD environment variable');
    await rm(passwordless, { recursive: true });
  });

  it.each([
    [{ AWS_ENDPOINT_URL: 'notaurl' }, "argos: AWS_ENDPOINT_URL 'notaurl' is not a URL such as https://ec2.us-east-1.amazonaws.com: fix it, or unset it to use AWS's own endpoints"],
    [{ AWS_REGION: 'mars-1' }, "argos: AWS_REGION 'mars-1' is not an AWS region such as us-east-1: fix it, or unset it to use the config's region (us-east-1)"],
    [{ ARGOS_AWS_TIMEOUT_MS: 'soon' }, "argos: ARGOS_AWS_TIMEOUT_MS 'soon' must be a whole number of milliseconds, at least 100"],
  ])('says what is wrong with %j before calling AWS', async (variables, message) => {
    const result = await run(['staging', 'status'], { ...fakeAwsEnvironment, ...variables });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(message);
  });
});

describe('an endpoint that does not answer', () => {
  it('names a closed endpoint instead of blaming the credentials or promising a resume', async () => {
    const closed = await listen(() => undefined);
    const url = `http://127.0.0.1:${closed.port}`;
    await closed.close();
    for (const args of [['staging', 'status'], ['staging', 'commission', '--dry-run']]) {
      const result = await run(args, { ...fakeAwsEnvironment, AWS_ENDPOINT_URL: url });
      expect(result.exitCode, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toContain(`argos: could not reach ${url} (connect ECONNREFUSED 127.0.0.1:${closed.port}): check AWS_ENDPOINT_URL, AWS_REGION and your network`);
      expect(result.stderr).not.toMatch(/credentials|continues where it stopped/);
    }
  });

  it('gives up on an endpoint that takes the connection and never answers, saying so', async () => {
    // Holds every connection open without a byte of answer, as a frozen proxy does.
    const sockets: Socket[] = [];
    const frozen = await listen((socket) => void sockets.push(socket));
    const started = Date.now();
    const result = await run(['staging', 'status'], { ...fakeAwsEnvironment, AWS_ENDPOINT_URL: `http://127.0.0.1:${frozen.port}`, ARGOS_AWS_TIMEOUT_MS: '300' });
    for (const socket of sockets) socket.destroy();
    await frozen.close();
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`argos: could not reach http://127.0.0.1:${frozen.port} (no answer in time)`);
    expect(Date.now() - started).toBeLessThan(25_000);
  });
});

/** A TCP server on 127.0.0.1 with `onConnection`, on a free port. */
async function listen(onConnection: (socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('configuration errors exit 2 (files)', () => {
  it('reads the file --config names', async () => {
    const result = await run(['staging', 'status', '--config', 'elsewhere.yml']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('config file elsewhere.yml not found');
  });

  it('explains missing credentials, naming the variables and AWS_PROFILE', async () => {
    const result = await run(['staging', 'status'], {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: fakeAwsEnvironment['AWS_ENDPOINT_URL'] ?? '',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      'argos: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile in ~/.aws, e.g. after aws sso login), or the original AWS_ACCESS_KEY and AWS_SECRET_KEY',
    );
  });

  it('accepts the original AWS_ACCESS_KEY / AWS_SECRET_KEY', async () => {
    const result = await run(['staging', 'status'], {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: fakeAwsEnvironment['AWS_ENDPOINT_URL'] ?? '',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ACCESS_KEY: 'testing',
      AWS_SECRET_KEY: 'testing',
    });
    expect(result.stderr).not.toContain('no AWS credentials');
  });
});

describe('the log', () => {
  it('logs the run to logs/argos-<env>.log without the password', async () => {
    await run(['staging', 'status']);
    const log = await readFile(join(project, 'logs', 'argos-staging.log'), 'utf8');
    expect(log).toContain('staging: not commissioned');
    expect(log).not.toContain(CANARY);
  });
});
