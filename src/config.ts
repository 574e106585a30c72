/**
 * The one reader of `playbooks/group_vars/all.yml`: the file Ansible reads as
 * group variables, so the CLI and the playbooks share one set of values.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ArgosError, configError } from './errors.js';
import { isValidName } from './names.js';
import { Secret } from './secret.js';

/** Where the config lives unless `--config` says otherwise. */
export const DEFAULT_CONFIG_PATH = 'playbooks/group_vars/all.yml';
/** The committed, documented template users copy. */
export const SAMPLE_CONFIG_PATH = 'playbooks/group_vars/all-sample.yml';

const name = z.string().refine(isValidName, {
  message: 'must be lowercase letters, digits and single hyphens, starting with a letter',
});
const nonEmpty = z.string().min(1, { message: 'must not be empty' });
const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: 'must be an EC2 instance type such as t3.small' });
/** Empty strings in YAML (`ssh_cidr: ""`) mean "not set". */
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** An AWS region's shape: `us-east-1`, `ap-southeast-2`, `us-gov-west-1`. */
export const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d$/;

/** ACM (regional) or IAM (global) server certificate ARNs: what a classic load balancer's HTTPS listener takes. */
const CERTIFICATE_ARN_PATTERN = /^arn:aws(?:-[a-z]+)*:(?:acm:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:certificate\/[A-Za-z0-9-]+|iam::\d{12}:server-certificate\/\S+)$/;

/** The keys the CLI reads; other keys are Ansible's and pass through untouched. */
const schema = z
  .object({
    app_name: name,
    region: z.string().regex(REGION_PATTERN, { message: 'must be an AWS region such as us-east-1' }),
    base_ami: z.string().regex(/^ami-[0-9a-f]{8,17}$/, { message: 'must be an AMI id such as ami-0123456789abcdef0' }),
    key_name: nonEmpty,
    login_user: nonEmpty.optional(),
    // The old name of login_user, still read (Ansible reserves it and warns on every run).
    remote_user: nonEmpty.optional(),
    db_user: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, {
      message: 'must start with a letter and hold only letters, digits and underscores (at most 63)',
    }),
    db_pass: z.string().optional(),
    app_instance_type: instanceType.default('t3.small'),
    image_instance_type: instanceType.default('t3.small'),
    broker_instance_type: instanceType.default('t3.small'),
    worker_instance_type: instanceType.default('t3.small'),
    db_instance_type: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, { message: 'must be an RDS class such as db.t3.micro' }).default('db.t3.micro'),
    db_allocated_storage: z.number().int().min(20).max(65536).default(20),
    // A major version alone: RDS creates the database with that major's current default minor (16.4 is no longer offered).
    db_engine_version: z.string({ message: 'must be a string: quote it, for example "16"' }).regex(/^\d+(?:\.\d+)*$/, { message: 'must be a PostgreSQL version such as "16" or "16.9"' }).default('16'),
    db_multi_az: z.boolean().default(false),
    db_deletion_protection: z.boolean().default(true),
    app_port: z.number().int().min(1).max(65535).default(8000),
    health_check_path: z.string().startsWith('/', { message: 'must start with /' }).default('/'),
    certificate_arn: z
      .string()
      .regex(CERTIFICATE_ARN_PATTERN, {
        message: 'must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>) or an IAM server certificate ARN (arn:aws:iam::<account>:server-certificate/<name>)',
      })
      .optional(),
    redirect_http: z.boolean().default(false),
    broker_enabled: z.boolean().default(false),
    workers_enabled: z.boolean().default(false),
    ssh_cidr: optionalString,
    ssh_config: optionalString,
    root_volume_size: z.number().int().min(8).max(16384).default(16),
    scaling_target_cpu: z.number().min(1).max(100).default(60),
    // How many release images an environment keeps (the live one and any an instance runs from are kept besides).
    release_images_kept: z.number().int().min(1).max(50).default(3),
    // The app's git ref the playbooks deploy (Ansible's key); argos tags each release image with it.
    git_ref: z.union([z.string(), z.number()]).transform(String).default('master'),
  })
  // Unknown keys are already stripped; the TypeScript code uses camelCase names.
  .transform(camelizeKeys);

/** `app_instance_type` → `appInstanceType`, at the type level. */
type Camelize<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camelize<Tail>>}` : S;

/** An object with its snake_case keys in camelCase, read-only. */
type CamelizeKeys<T> = { readonly [K in keyof T & string as Camelize<K>]: T[K] };

/** The runtime twin of {@link CamelizeKeys}, so no key is ever mapped by hand. */
function camelizeKeys<T extends Record<string, unknown>>(values: T): CamelizeKeys<T> {
  const entries = Object.entries(values).map(([key, value]) => [key.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()), value]);
  // Object.fromEntries cannot type the renamed keys; CamelizeKeys states them.
  return Object.fromEntries(entries) as CamelizeKeys<T>;
}

/**
 * The validated configuration, in the names the TypeScript code uses: every
 * schema key camelCased, except `db_pass`, which becomes {@link Secret}
 * `dbPassword` (it may come from ARGOS_DB_PASSWORD instead).
 */
export type Config = Omit<z.output<typeof schema>, 'dbPass' | 'loginUser' | 'remoteUser'> & {
  /** The file as messages name it. */
  readonly file: string;
  /** The servers' login user: `login_user`, or the deprecated `remote_user` (ubuntu on Ubuntu AMIs, admin on Debian's). */
  readonly remoteUser: string;
  /** What the file should change (deprecated keys), for the command to warn about. */
  readonly deprecations: readonly string[];
  /** Unset only for a command that needs none ({@link ConfigOverrides.requirePassword}): revealing it then fails. */
  readonly dbPassword: Secret;
};

/** What the config may take from the environment instead of the file. */
export interface ConfigOverrides {
  /** `ARGOS_DB_PASSWORD`: wins over `db_pass` so the file need hold no secret. */
  dbPassword?: string | undefined;
  /** How messages name the file (the path as the user typed it); defaults to `file`. */
  shownAs?: string | undefined;
  /**
   * Whether the run needs the database password (commission creates the
   * database with it, deploy hands it to Ansible); default true. status, clean
   * and decommission never use it, so they do not ask for it.
   */
  requirePassword?: boolean | undefined;
}

/**
 * A config is a few dozen lines; a file far larger is a mistake (the wrong
 * path), and parsing one of tens of megabytes takes minutes and gigabytes.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads, parses and validates the config file. Every problem becomes a one-line {@link configError}. */
export async function loadConfig(path: string, overrides: ConfigOverrides = {}): Promise<Config> {
  const file = overrides.shownAs ?? path;
  let text: string;
  try {
    // Checked before reading: a FIFO or a device would block the read forever.
    const info = await stat(path);
    if (!info.isFile()) {
      throw configError(`config file ${file} is not a regular file (${describeFileType(info)}): pass the path of a YAML file with --config`);
    }
    if (info.size > MAX_CONFIG_BYTES) {
      throw configError(`config file ${file} has ${info.size} bytes, more than a config can hold (${MAX_CONFIG_BYTES}): is --config pointing at the right file?`);
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw configError(
        `config file ${file} not found: copy the sample and edit it (cp ${SAMPLE_CONFIG_PATH} ${file}), or pass --config <file>`,
        error,
      );
    }
    if (error instanceof ArgosError) throw error;
    throw configError(`cannot read config file ${file}: ${(error as Error).message}`, error);
  }
  return parseConfig(text, file, overrides);
}

/** Parses and validates config text; `file` only names the source in messages. */
export function parseConfig(text: string, file: string, overrides: ConfigOverrides = {}): Config {
  const document = parseDocument(text);
  const [syntaxError] = document.errors;
  if (syntaxError) {
    // Only the position: the YAML library's own message quotes the offending line,
    // which may be the one holding db_pass.
    const position = syntaxError.linePos?.[0];
    const where = position ? ` at line ${position.line}, column ${position.col}` : '';
    throw configError(`config file ${file} is not valid YAML${where} (${syntaxError.code}): fix the syntax there`);
  }
  const raw: unknown = document.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError(`config file ${file} must be a mapping of keys to values, like ${SAMPLE_CONFIG_PATH}`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => describeIssue(issue, raw as Record<string, unknown>));
    throw configError(`config file ${file}: ${problems.join('; ')}`);
  }
  const { dbPass, loginUser, remoteUser: oldLoginUser, ...rest } = result.data;
  const values = { ...rest, ...readLoginUser(loginUser, oldLoginUser, file) };
  const password = overrides.dbPassword !== undefined && overrides.dbPassword !== '' ? overrides.dbPassword : dbPass;
  const missing = configError(`no database password: set db_pass in ${file} or the ARGOS_DB_PASSWORD environment variable`);
  if (overrides.requirePassword === false) return { file, ...values, dbPassword: password ? new Secret(password) : Secret.unset(missing) };
  if (password === undefined || password === '') throw missing;
  checkDatabasePassword(password, file);
  return { file, ...values, dbPassword: new Secret(password) };
}

/**
 * `login_user`, or the old `remote_user` with a deprecation: users' all.yml files
 * have it, and Ansible, which reads the same file as group variables, warns on
 * every run that the name is reserved.
 */
function readLoginUser(loginUser: string | undefined, oldName: string | undefined, file: string): { remoteUser: string; deprecations: string[] } {
  const user = loginUser ?? oldName;
  if (user === undefined) {
    throw configError(`config file ${file}: missing key 'login_user' (the login user of base_ami: ubuntu for Ubuntu AMIs, admin for Debian's)`);
  }
  if (oldName === undefined) return { remoteUser: user, deprecations: [] };
  const rename = `rename remote_user to login_user in ${file} (Ansible reserves the name remote_user and warns about it on every run)`;
  return {
    remoteUser: user,
    deprecations: [loginUser === undefined ? `${rename}; argos still reads it for now` : `remote_user in ${file} is ignored (login_user is set): remove it`],
  };
}

/** What a non-regular file is, in a word a person knows. */
function describeFileType(info: Awaited<ReturnType<typeof stat>>): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a file';
}

/** RDS's rules for a master password, checked without ever echoing the value. */
function checkDatabasePassword(password: string, file: string): void {
  // RDS: 8 to 128 printable ASCII characters other than / " @ and space.
  if (password.length < 8 || password.length > 128 || !/^[\x21-\x7e]+$/.test(password) || /[/"@]/.test(password)) {
    throw configError(
      `the database password (db_pass in ${file} or ARGOS_DB_PASSWORD) does not meet RDS's rules: ` +
        `8 to 128 printable ASCII characters, without / " @ or spaces`,
    );
  }
}

/** One problem as "key 'x' must be …", built from the issue's path and kind, never its value. */
function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const key = issue.path.map(String).join('.');
  const value = issue.path.length > 0 ? raw[String(issue.path[0])] : raw;
  if (issue.code === 'invalid_type') {
    if (value === undefined || value === null) return `missing key '${key}' (expected ${issue.expected})`;
    return `key '${key}' must be ${article(issue.expected)}, not ${describeType(value)}${quoteHint(key, issue.expected, value)}`;
  }
  // zod's own wording ("Too small: expected number to be >=8") reads as a library's, not argos's.
  if ((issue.code === 'too_small' || issue.code === 'too_big') && /^Too (small|big)/.test(issue.message)) {
    const bound = String(issue.code === 'too_small' ? issue.minimum : issue.maximum);
    const inclusive = issue.inclusive !== false;
    const relation = issue.code === 'too_small' ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'less than';
    return `key '${key}' must be ${relation} ${bound}${issue.origin === 'string' ? ' characters long' : ''}`;
  }
  return `key '${key}' ${issue.message}`;
}

/**
 * YAML reads `db_pass: 12345678` as a number and `db_engine_version: 16.4` as
 * one: say to quote the value (with an example, never the value itself).
 */
function quoteHint(key: string, expected: string, value: unknown): string {
  if (expected !== 'string' || (typeof value !== 'number' && typeof value !== 'boolean')) return '';
  const example = key === 'db_engine_version' ? '"16"' : key === 'db_pass' ? '"…" around the password' : '"…"';
  return `: quote it, for example ${key}: ${example}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return article(typeof value);
}
