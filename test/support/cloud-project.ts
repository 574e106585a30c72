/**
 * An argos project on the local cloud: a moto server of its own, the harness in
 * front of it (every instance a systemd machine, load balancers that really
 * check health, a PostgreSQL per database), the repository's playbooks, a key
 * pair whose private key is keys/<key_name>.pem, and the sample app as a git
 * repository every machine sees at /srv/fixtures (as a real one would fetch it
 * over the internet). Used by the local-cloud end-to-end tests and the sandbox.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { RDSClient } from '@aws-sdk/client-rds';
import { startHarness, type Harness } from '../../localcloud/harness.js';
import { importKeyPair } from './aws-fixtures.js';
import { REPO_ROOT, runCli, type CliResult } from './cli.js';
import { emulatorEnvironment, startMotoServer, type MotoServer } from './moto.js';

/** A moto preloaded image: not made through the harness, so machines boot the cached base root. */
export const BASE_AMI = 'ami-04681a1dbd79675a5';
/** The canary password: no log line, error or argv may ever show it. */
export const CLOUD_CANARY = 'canary-Cloud-5e1d7a';
const KEY_NAME = 'argos-cloud';
/** Where machines see the fixture repositories. */
const FIXTURES = '/srv/fixtures';

/** SDK clients pointed at the harness. */
export interface CloudClients {
  readonly ec2: EC2Client;
  readonly elb: ElasticLoadBalancingClient;
  readonly autoScaling: AutoScalingClient;
  readonly rds: RDSClient;
  destroy(): void;
}

/** A project on a running local cloud. */
export interface CloudProject {
  readonly root: string;
  readonly harness: Harness;
  /** SDK clients pointed at the harness (what argos sees). */
  readonly clients: CloudClients;
  /** The environment argos runs with (the harness as its AWS endpoint). */
  readonly env: Record<string, string>;
  /** Runs `argos <args>` in the project. */
  argos(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Writes playbooks/group_vars/all.yml with these overrides on top of the project's config. */
  writeConfig(overrides?: Record<string, unknown>): Promise<void>;
  /** Commits a new version of the sample app (its VERSION constant) on branch main; returns the commit. */
  releaseSampleApp(version: string): Promise<string>;
  stop(): Promise<void>;
}

/** The sample app as a bare repository in `dir` (mode a+rX: the app user clones it), and a work tree to commit from. */
async function buildFixtureRepo(dir: string): Promise<{ bare: string; work: string }> {
  const work = join(dir, 'sample-app.work');
  const bare = join(dir, 'fixtures', 'sample-app.git');
  await cp(join(REPO_ROOT, 'test', 'fixtures', 'sample-app'), work, { recursive: true });
  const git = (args: string[], cwd = work) => execa('git', args, { cwd });
  await git(['init', '-q', '-b', 'main']);
  await git(['add', '-A']);
  await git(['-c', 'user.name=argos-test', '-c', 'user.email=argos-test@example.invalid', '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'sample app']);
  await mkdir(join(dir, 'fixtures'), { recursive: true });
  await git(['clone', '-q', '--bare', work, bare], dir);
  await git(['remote', 'add', 'origin', bare]);
  // git refuses a repository another user owns; the app user clones this root-owned one, so every
  // machine gets a system gitconfig that trusts it (a real git_repo is fetched over https instead).
  await writeFile(join(dir, 'fixtures', 'gitconfig'), `[safe]\n\tdirectory = ${FIXTURES}/sample-app.git\n`);
  await execa('chmod', ['-R', 'a+rX', join(dir, 'fixtures')]);
  return { bare, work };
}

/** Starts moto and the harness (cloud `name`, 1–4 characters) and makes the project around them. */
export async function makeCloudProject(options: { name: string; log?: (line: string) => void; delayMs?: number; databaseCreateMs?: number }): Promise<CloudProject> {
  const root = await mkdtemp(join(tmpdir(), 'argos-cloud-'));
  // The fixtures' directory must be readable by the machines' users (mkdtemp makes 0700).
  await chmod(root, 0o755);
  const { work } = await buildFixtureRepo(root);
  await mkdir(join(root, 'keys'), { recursive: true });
  const keyFile = join(root, 'keys', `${KEY_NAME}.pem`);
  await execa('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', keyFile]);
  await chmod(keyFile, 0o600);
  let moto: MotoServer | undefined;
  let harness: Harness | undefined;
  try {
    moto = await startMotoServer();
    harness = await startHarness({
      motoEndpoint: moto.url,
      name: options.name,
      identityFile: keyFile,
      binds: [
        { source: join(root, 'fixtures'), target: FIXTURES },
        { source: join(root, 'fixtures', 'gitconfig'), target: '/etc/gitconfig' },
      ],
      ...(options.log ? { log: options.log } : {}),
      ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
      ...(options.databaseCreateMs !== undefined ? { databaseCreateMs: options.databaseCreateMs } : {}),
    });
    const env = emulatorEnvironment(harness.endpoint);
    const config = { endpoint: harness.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    const sdk = { ec2: new EC2Client(config), elb: new ElasticLoadBalancingClient(config), autoScaling: new AutoScalingClient(config), rds: new RDSClient(config) };
    const clients: CloudClients = { ...sdk, destroy: () => Object.values(sdk).forEach((client) => client.destroy()) };
    await importKeyPair(clients.ec2, KEY_NAME, keyFile);
    await cp(join(REPO_ROOT, 'playbooks'), join(root, 'playbooks'), { recursive: true, filter: (source) => !source.endsWith(join('group_vars', 'all.yml')) });
    // The role tests' settings for machines without PyPI (packages from Debian), minus what the inventory provides
    // and the test CA of the role tests' PostgreSQL stand-in (the cloud's database has none).
    const testVars = parse(await readFile(join(REPO_ROOT, 'playbooks', 'tests', 'vars.yml'), 'utf8')) as Record<string, unknown>;
    for (const key of ['env_name', 'db_host', 'db_port', 'db_name', 'broker_host', 'db_pass', 'db_user', 'database_ssl_root_cert']) delete testVars[key];
    const sample = parse(await readFile(join(REPO_ROOT, 'playbooks', 'group_vars', 'all-sample.yml'), 'utf8')) as Record<string, unknown>;
    const running = harness;
    const writeConfig = async (overrides: Record<string, unknown> = {}) => {
      const config = {
        ...sample,
        ...testVars,
        app_name: 'argos',
        region: 'us-east-1',
        base_ami: BASE_AMI,
        key_name: KEY_NAME,
        db_user: 'argos',
        db_pass: CLOUD_CANARY,
        git_repo: `file://${FIXTURES}/sample-app.git`,
        git_ref: 'main',
        ssh_config: running.sshConfigPath,
        // Never the caller's public address: nothing here may dial out to find it.
        ssh_cidr: '203.0.113.7/32',
        ...overrides,
      };
      await writeFile(join(root, 'playbooks', 'group_vars', 'all.yml'), stringify(config));
    };
    await writeConfig();
    const stopMoto = moto;
    return {
      root,
      harness,
      clients,
      env,
      writeConfig,
      argos: (args, timeoutMs = 1_800_000) => runCli(args, { cwd: root, env, timeout: timeoutMs }),
      releaseSampleApp: async (version) => {
        const file = join(work, 'application.py');
        const source = await readFile(file, 'utf8');
        await writeFile(file, source.replace(/^VERSION = .*$/m, `VERSION = ${JSON.stringify(version)}`));
        const git = (args: string[]) => execa('git', args, { cwd: work });
        await git(['-c', 'user.name=argos-test', '-c', 'user.email=argos-test@example.invalid', '-c', 'commit.gpgsign=false', 'commit', '-q', '-am', `version ${version}`]);
        await git(['push', '-q', 'origin', 'main']);
        return (await git(['rev-parse', 'HEAD'])).stdout.trim();
      },
      stop: async () => {
        clients.destroy();
        try {
          await running.stop();
        } finally {
          await stopMoto.stop();
          await rm(root, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await harness?.stop().catch(() => undefined);
    await moto?.stop();
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}
