/**
 * The Context: everything a command needs, validated once at the boundary and
 * passed down read-only. Modules take it (or the one client they need) as an
 * argument instead of reading argv or process.env.
 */
import { join, relative, resolve } from 'node:path';
import { createClients, type AwsClients } from './aws/clients.js';
import { createCredentialProvider, type LegacyCredentials } from './aws/credentials.js';
import { loadConfig, REGION_PATTERN, type Config } from './config.js';
import { configError } from './errors.js';
import { checkDerivedNames, makeNames, type EnvNames } from './names.js';
import { parseSshCidr } from './cidr.js';
import type { CommonOptions, SshOptions } from './options.js';
import type { Reporter, StepHandle } from './reporter.js';
import { createRuntime, type LocalProcesses, type Runtime } from './runtime.js';
import type { Progress } from './wait.js';

/** Files argos reads and writes for one environment. */
export interface Paths {
  /** The project folder (where playbooks/, keys/ and hosts/ are). */
  readonly root: string;
  readonly config: string;
  readonly playbooks: string;
  /** keys/<key_name>.pem */
  readonly keyFile: string;
  /** hosts/hosts_<env>: the generated Ansible inventory. */
  readonly hostsFile: string;
  /** hosts/known_hosts_<env>: host keys of the environment's instances. */
  readonly knownHostsFile: string;
  /** logs/argos-<env>.log: the full log of every run. */
  readonly logFile: string;
}

/** What one run of one command works with. */
export interface Context<O extends CommonOptions = CommonOptions> {
  readonly env: string;
  readonly options: O;
  readonly config: Config;
  readonly names: EnvNames;
  readonly region: string;
  readonly paths: Paths;
  /** Where temporary SSH ingress may be opened from, when known without a lookup. */
  readonly sshCidr: string | undefined;
  /** OpenSSH client config for Ansible: `--ssh-config`, else `ssh_config`. */
  readonly sshConfig: string | undefined;
  /** Where argos's SSH wait and Ansible share master connections: Ansible's control_path_dir. */
  readonly sshControlDir: string | undefined;
  /** The one I/O host: progress, messages, results and questions. */
  readonly reporter: Reporter;
  readonly clients: AwsClients;
  /** Aborted by the first Ctrl-C: every wait and subprocess honours it. */
  readonly signal: AbortSignal;
  /** Clock, SSH, Ansible, address lookup and local processes (replaced in tests and benchmarks). */
  readonly runtime: Runtime;
}

/** The process environment values argos reads, gathered by the CLI. */
export interface Environment {
  AWS_REGION?: string | undefined;
  ARGOS_DB_PASSWORD?: string | undefined;
  ARGOS_SSH_CIDR?: string | undefined;
  AWS_ACCESS_KEY?: string | undefined;
  AWS_SECRET_KEY?: string | undefined;
  /** Read by the SDK itself; checked here so a typo is a clear error, not a TypeError deep in the SDK. */
  AWS_ENDPOINT_URL?: string | undefined;
  /** Bound of one AWS call attempt in ms, for slow links (default: the clients' own). */
  ARGOS_AWS_TIMEOUT_MS?: string | undefined;
  /** Ansible's control_path_dir (default ~/.ansible/cp): argos's SSH wait puts its master connections there too. */
  ANSIBLE_SSH_CONTROL_PATH_DIR?: string | undefined;
  /** Expands that folder's `~` (as Ansible does); unset, the wait and Ansible share no master. */
  HOME?: string | undefined;
}

/** Inputs to {@link createContext}. */
export interface ContextInputs<O extends CommonOptions> {
  env: string;
  /** Whether the command needs the database password (see NEEDS_DATABASE_PASSWORD); default true. */
  requirePassword?: boolean;
  /** Whether the command opens SSH (it takes the SSH options); default true. Others never resolve where SSH comes from. */
  opensSsh?: boolean;
  options: O;
  environment: Environment;
  root: string;
  signal: AbortSignal;
  /** This run's process and its host's others (from run.ts, the one module that touches the process). */
  processes: LocalProcesses;
  /** Built once the config is known, so it can mask the database password. */
  createReporter: (logFile: string, secrets: string[]) => Reporter;
}

/** Loads the config, checks derived names and builds the Context. */
export async function createContext<O extends CommonOptions>(inputs: ContextInputs<O>): Promise<Context<O>> {
  const { env, options, environment, root } = inputs;
  const configPath = resolve(root, options.config);
  // Messages name the file as the user would type it.
  const shownPath = relative(root, configPath).startsWith('..') ? configPath : relative(root, configPath);
  const config = await loadConfig(configPath, { dbPassword: environment.ARGOS_DB_PASSWORD, shownAs: shownPath, requirePassword: inputs.requirePassword });
  checkDerivedNames(config.appName, env);
  const paths: Paths = {
    root,
    config: configPath,
    playbooks: join(root, 'playbooks'),
    keyFile: join(root, 'keys', `${config.keyName}.pem`),
    hostsFile: join(root, 'hosts', `hosts_${env}`),
    knownHostsFile: join(root, 'hosts', `known_hosts_${env}`),
    logFile: join(root, 'logs', `argos-${env}.log`),
  };
  const legacy: LegacyCredentials | undefined =
    environment.AWS_ACCESS_KEY && environment.AWS_SECRET_KEY
      ? { accessKeyId: environment.AWS_ACCESS_KEY, secretAccessKey: environment.AWS_SECRET_KEY }
      : undefined;
  const region = environment.AWS_REGION || config.region;
  if (!REGION_PATTERN.test(region)) {
    throw configError(`AWS_REGION '${region}' is not an AWS region such as us-east-1: fix it, or unset it to use the config's region (${config.region})`);
  }
  checkEndpoint(environment.AWS_ENDPOINT_URL);
  const requestTimeoutMs = parseTimeout(environment.ARGOS_AWS_TIMEOUT_MS);
  const ssh = inputs.opensSsh === false ? undefined : sshOptionsOf(options);
  const sshConfig = ssh ? (ssh.sshConfig ?? config.sshConfig) : undefined;
  const reporter = inputs.createReporter(paths.logFile, config.dbPassword.isSet ? [config.dbPassword.reveal()] : []);
  for (const deprecation of config.deprecations) reporter.warn(deprecation);
  return {
    env,
    options,
    config,
    names: makeNames(config.appName, env),
    region,
    paths,
    // Only a command that opens SSH checks where from: status need not fail on an ARGOS_SSH_CIDR it never uses.
    sshCidr: ssh ? resolveSshCidr(ssh.sshCidr, environment.ARGOS_SSH_CIDR, config) : undefined,
    sshConfig: sshConfig === undefined ? undefined : resolve(root, sshConfig),
    sshControlDir: ssh ? resolveControlDir(environment, root) : undefined,
    reporter,
    clients: createClients({ region, credentials: createCredentialProvider(legacy), requestTimeoutMs }),
    signal: inputs.signal,
    runtime: createRuntime(inputs.processes),
  };
}

/**
 * The folder Ansible keeps its master connections in (its ssh connection's
 * control_path_dir: ANSIBLE_SSH_CONTROL_PATH_DIR, default ~/.ansible/cp), so that
 * argos's SSH wait leaves its login there for Ansible's first task. Undefined, and
 * nothing shared, when it cannot be known here (no HOME, a $VARIABLE in it).
 */
export function resolveControlDir(environment: Pick<Environment, 'ANSIBLE_SSH_CONTROL_PATH_DIR' | 'HOME'>, root: string): string | undefined {
  const configured = environment.ANSIBLE_SSH_CONTROL_PATH_DIR || '~/.ansible/cp';
  const home = environment.HOME;
  if (configured.startsWith('~') && !home) return undefined;
  const expanded = configured === '~' || configured.startsWith('~/') ? `${home ?? ''}${configured.slice(1)}` : configured;
  if (expanded.includes('$') || expanded.startsWith('~')) return undefined;
  return resolve(root, expanded);
}

/** AWS_ENDPOINT_URL must be an http(s) URL: the SDK would fail later with a bare "Invalid URL". */
function checkEndpoint(endpoint: string | undefined): void {
  if (endpoint === undefined || endpoint === '') return;
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw configError(`AWS_ENDPOINT_URL '${endpoint}' is not a URL such as https://ec2.us-east-1.amazonaws.com: fix it, or unset it to use AWS's own endpoints`);
  }
}

/** ARGOS_AWS_TIMEOUT_MS: a whole number of milliseconds, at least 100. */
function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(ms >= 100)) throw configError(`ARGOS_AWS_TIMEOUT_MS '${value}' must be a whole number of milliseconds, at least 100`);
  return ms;
}

/**
 * The SSH options of a command that opens SSH. An option not given is absent
 * from the parsed options, so which command takes them is decided by its
 * option table (run.ts passes `opensSsh`), never by the keys present.
 */
function sshOptionsOf(options: CommonOptions): Partial<SshOptions> {
  // Validated already; a command without SSH options simply has neither key.
  return options as Partial<SshOptions>;
}

/** `--ssh-cidr` (already validated) wins over ARGOS_SSH_CIDR, which wins over `ssh_cidr`. */
function resolveSshCidr(flag: string | undefined, variable: string | undefined, config: Config): string | undefined {
  if (flag !== undefined) return flag;
  for (const [source, value] of [
    ['ARGOS_SSH_CIDR', variable],
    [`ssh_cidr in ${config.file}`, config.sshCidr],
  ] as const) {
    if (value === undefined || value.trim() === '') continue;
    const parsed = parseSshCidr(value);
    if ('error' in parsed) throw configError(`${source}: ${parsed.error}`);
    return parsed.cidr;
  }
  return undefined;
}

/**
 * The wait options of one step: the run's Ctrl-C signal and clock, and the
 * step's note for progress (`prefix` names the host or resource waited on).
 */
export function progressOf(ctx: Pick<Context, 'signal' | 'runtime'>, step?: StepHandle, prefix = ''): Progress {
  return { signal: ctx.signal, clock: ctx.runtime.clock, onProgress: (note) => step?.note(`${prefix}${note}`) };
}
