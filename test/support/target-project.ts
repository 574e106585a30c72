/**
 * A scratch argos project wired to the emulator and a real local target: the
 * repository's playbooks, a config whose hosts are reached through the
 * target's ssh_config, the target's key as keys/<key_name>.pem, and the sample
 * app as a git repository the target can clone without internet.
 */
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from './cli.js';
import { startLocalTarget, type LocalTarget } from './local-target.js';

/** The canary password: no log line, error or argv may ever show it. */
export const CANARY = 'canary-Secret-9f3b2c';

/** Loopback ports of the services the roles start on the target (shared network). */
export const TARGET_PORTS = { nginx: 28080, uwsgi: 28000 } as const;

/**
 * This target shares the machine's network (the role tests' systemd machines do
 * not, and use the real ports): every service binds loopback on a port of its own.
 */
const SHARED_NETWORK_VARS = {
  app_nginx_listen_address: '127.0.0.1',
  app_uwsgi_address: '127.0.0.1',
  broker_bind_address: '127.0.0.1',
  broker_amqp_port: 15670,
  broker_epmd_port: 14369,
  broker_dist_port: 35670,
  broker_redis_port: 16379,
} as const;

export interface TargetProject {
  root: string;
  /** Absent when made with `withTarget: false` (no root or debootstrap here). */
  target: LocalTarget | undefined;
  /** Writes playbooks/group_vars/all.yml with these overrides on top of the test config. */
  writeConfig(overrides?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Builds a bare git repository of test/fixtures/sample-app (what `git_repo` points at). */
async function buildFixtureRepo(dir: string): Promise<string> {
  const work = join(dir, 'sample-app.work');
  const bare = join(dir, 'sample-app.git');
  await cp(join(REPO_ROOT, 'test', 'fixtures', 'sample-app'), work, { recursive: true });
  const git = (args: string[], cwd = work) => execa('git', args, { cwd });
  await git(['init', '-q', '-b', 'main']);
  await git(['add', '-A']);
  await git(['-c', 'user.name=argos-test', '-c', 'user.email=argos-test@example.invalid', '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'sample app']);
  await git(['clone', '-q', '--bare', work, bare], dir);
  await rm(work, { recursive: true, force: true });
  await execa('chmod', ['-R', 'a+rX', bare]);
  return bare;
}

/** Runs a playbook of the tests against the target, as argos would reach it. */
async function runTestPlaybook(root: string, target: LocalTarget, playbook: string, extraVars: string[] = []): Promise<void> {
  const inventory = join(root, 'prepare.ini');
  await writeFile(inventory, `[all]\nec2-198-51-100-10.compute-1.amazonaws.com\n`);
  await execa('ansible-playbook', ['-i', inventory, '-u', target.user, '--private-key', target.keyPath, playbook, ...extraVars.flatMap((v) => ['-e', v])], {
    // Pipelining, as argos runs it: becoming an unprivileged user needs it here.
    env: { ANSIBLE_SSH_ARGS: `-F ${target.sshConfigPath}`, ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_PIPELINING: 'True' },
  });
}

/** Starts a local target (unless `withTarget` is false) and a project folder around it. */
export async function makeTargetProject(options: { withTarget?: boolean } = {}): Promise<TargetProject> {
  const root = await mkdtemp(join(tmpdir(), 'argos-e2e-'));
  const bare = await buildFixtureRepo(root);
  const target = options.withTarget === false ? undefined : await startLocalTarget({ binds: [{ source: bare, target: '/srv/fixtures/sample-app.git' }] });
  try {
    await cp(join(REPO_ROOT, 'playbooks'), join(root, 'playbooks'), {
      recursive: true,
      filter: (source) => !source.endsWith(join('group_vars', 'all.yml')),
    });
    await mkdir(join(root, 'keys'), { recursive: true });
    if (target) await copyFile(target.keyPath, join(root, 'keys', 'argos-test.pem'));
    else await writeFile(join(root, 'keys', 'argos-test.pem'), 'no target: this key is never used\n');
    await chmod(join(root, 'keys', 'argos-test.pem'), 0o600);
    // The role tests' own settings for a target without PyPI, minus what the inventory provides
    // and the CA of the role tests' PostgreSQL stand-in (this one keeps libpq's prefer).
    const testVars = parse(await readFile(join(REPO_ROOT, 'playbooks', 'tests', 'vars.yml'), 'utf8')) as Record<string, unknown>;
    for (const key of ['env_name', 'db_host', 'db_port', 'db_name', 'broker_host', 'db_pass', 'database_ssl_root_cert']) delete testVars[key];
    const sample = parse(await readFile(join(REPO_ROOT, 'playbooks', 'group_vars', 'all-sample.yml'), 'utf8')) as Record<string, unknown>;
    const writeConfig = async (overrides: Record<string, unknown> = {}) => {
      const config = {
        ...sample,
        ...testVars,
        ...SHARED_NETWORK_VARS,
        app_name: 'argos',
        region: 'us-east-1',
        base_ami: 'ami-04681a1dbd79675a5',
        key_name: 'argos-test',
        login_user: target?.user ?? 'ubuntu',
        db_user: 'argos',
        db_pass: CANARY,
        git_repo: 'file:///srv/fixtures/sample-app.git',
        git_ref: 'main',
        app_port: TARGET_PORTS.uwsgi,
        // The tests fetch through nginx with no load balancer's X-Forwarded-Proto: no redirect to HTTPS.
        redirect_http: false,
        app_nginx_port: TARGET_PORTS.nginx,
        ssh_config: target?.sshConfigPath ?? '',
        ssh_cidr: '203.0.113.7/32',
        ...overrides,
      };
      await writeFile(join(root, 'playbooks', 'group_vars', 'all.yml'), stringify(config));
    };
    await writeConfig();
    // As test.sh does: let the app user clone the root-owned fixture repository.
    if (target) await runTestPlaybook(root, target, join(root, 'playbooks', 'tests', 'target.yml'), ['git_repo=file:///srv/fixtures/sample-app.git']);
    return {
      root,
      target,
      writeConfig,
      stop: async () => {
        await target?.stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await target?.stop();
    throw error;
  }
}
