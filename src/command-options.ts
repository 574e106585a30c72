/**
 * Every command option, declared once: its flags, help text, default and
 * validator. cli.ts builds commander's options from this table and options.ts
 * builds the zod schemas and the option types from it.
 *
 * cli.ts imports this module for `--help`, so it must not load zod (importing
 * zod costs more than the rest of `--help`): zod is imported here as a type
 * only, and each validator is a function that is handed the zod namespace
 * when options.ts, loaded after the usage checks, builds the schemas.
 */
import type { z } from 'zod';
import { parseSshCidr } from './cidr.js';
import { isRoleName, ROLES, type CommandName, type RoleName } from './command-names.js';
import { parseBatchSize } from './batch-size.js';

/** The zod namespace, as handed to each validator. */
export type Zod = typeof z;

/** One option of one or more commands. */
export interface OptionDeclaration<S extends z.ZodType = z.ZodType> {
  /** Commander's flags; the table key must be commander's attribute name for them. */
  readonly flags: string;
  readonly description: string;
  /** The raw value commander fills in (and `--help` shows) when the flag is absent. */
  readonly default?: string;
  /** Builds the validator of the raw value; `flag` is the flag to name in messages. */
  readonly schema: (zod: Zod, flag: string) => S;
  /** Accepted but not listed in `--help`: it does nothing for this command (kept so existing scripts run). */
  readonly hidden?: boolean;
}

/** Options keyed by commander's attribute name (`--min-size` → `minSize`). */
export type OptionTable = Readonly<Record<string, OptionDeclaration>>;

/** A switch: false unless given, or true unless `--no-…` is given. */
function toggle(flags: string, description: string): OptionDeclaration<z.ZodDefault<z.ZodBoolean>> {
  // Commander sets a `--no-x` switch's attribute to true by default and a plain one to nothing.
  const unlessGiven = /(^|[ ,])--no-/.test(flags);
  return { flags, description, schema: (zod) => zod.boolean().default(unlessGiven) };
}

/** A count given as text, as a number; `undefined` when not given. */
const wholeNumber = (zod: Zod, flag: string) =>
  zod
    .string()
    // abort: a size that is not a number must not reach the min/max comparison.
    .regex(/^\d+$/, { error: (issue) => `${flag} must be a whole number, not '${String(issue.input)}'`, abort: true })
    .transform(Number)
    .optional();

/** An optional value parsed from its text by `parse`, whose error becomes the usage message. */
function parsedText<T>(zod: Zod, parse: (text: string) => { value: T } | { error: string }) {
  return zod
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const parsed = parse(text);
      if ('value' in parsed) return parsed.value;
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return zod.NEVER;
    });
}

/** `--roles app, worker,app` → `['app', 'worker']`; an unknown or no role is an error listing the valid ones. */
function parseRoles(text: string, flag: string): { value: RoleName[] } | { error: string } {
  const given = text.split(',').map((role) => role.trim()).filter((role) => role !== '');
  const unknown = given.filter((role) => !isRoleName(role));
  if (given.length === 0 || unknown.length > 0) {
    const problem = given.length === 0 ? 'no role given' : `unknown role ${unknown.map((role) => `'${role}'`).join(', ')}`;
    return { error: `${flag}: ${problem}; valid roles: ${ROLES.join(', ')}` };
  }
  return { value: [...new Set(given.filter(isRoleName))] };
}

/** Options every command takes, listed in `--help` after the command's own. */
export const COMMON_OPTIONS = {
  config: {
    flags: '--config <file>',
    description: 'config file shared with Ansible',
    // config.ts's DEFAULT_CONFIG_PATH, written out: config.ts loads zod.
    default: 'playbooks/group_vars/all.yml',
    schema: (zod, flag) => zod.string().min(1, { message: `${flag} must name a file` }),
  },
  verbose: toggle('-v, --verbose', 'show Ansible output and stack traces'),
} satisfies OptionTable;

/** How the commands that reach the servers over SSH (commission, deploy) reach them. */
export const SSH_OPTIONS = {
  sshCidr: {
    flags: '--ssh-cidr <cidr>',
    description: 'open temporary SSH only from this CIDR (default: ARGOS_SSH_CIDR, ssh_cidr, or your public address as a /32)',
    schema: (zod, flag) =>
      parsedText(zod, (text) => {
        const parsed = parseSshCidr(text);
        return 'cidr' in parsed ? { value: parsed.cidr } : { error: `${flag}: ${parsed.error}` };
      }),
  },
  sshConfig: {
    flags: '--ssh-config <file>',
    description: 'OpenSSH client config for Ansible (bastion hosts, ProxyJump)',
    schema: (zod) => zod.string().optional(),
  },
} satisfies OptionTable;

/** `--yes` of the commands that ask before deleting. */
const CONFIRM_OPTIONS = { yes: toggle('-y, --yes', 'skip confirmations (required when there is no terminal to ask on)') } satisfies OptionTable;

/** `--yes` where nothing is asked: accepted, since every command once took it, but not listed. */
const IGNORED_YES = { yes: { ...CONFIRM_OPTIONS.yes, hidden: true } } satisfies OptionTable;

/** Of every command that takes the environment's (or the image's) lock; see lock.ts. */
const forceUnlock = toggle('--force-unlock', 'first remove the lock a killed run left (says whose it was); only when that run is really gone');

/** Each command's own options, in `--help` order. */
export const COMMAND_OPTIONS = {
  commission: {
    // No commander defaults: an option not given keeps the environment's current value (commission.ts resolves it).
    minSize: { flags: '--min_size, --min-size <n>', description: 'fewest app servers (default: the current value; 1 for a new environment)', schema: wholeNumber },
    maxSize: { flags: '--max_size, --max-size <n>', description: 'most app servers (default: the current value; 4 for a new environment)', schema: wholeNumber },
    instanceType: {
      flags: '--instance_type, --instance-type <type>',
      description: 'app server instance type (default: the current one; app_instance_type for a new environment)',
      schema: (zod, flag) => zod.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: `${flag} must be an instance type such as t3.small` }).optional(),
    },
    dbInstanceType: {
      flags: '--db-instance-type <class>',
      description: 'RDS instance class (default: the current one; db_instance_type for a new database); a change is applied in the next maintenance window',
      schema: (zod, flag) => zod.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, { message: `${flag} must be an RDS class such as db.t3.micro` }).optional(),
    },
    applyNow: toggle('--apply-now', 'apply a --db-instance-type change now rather than in the maintenance window (the database restarts)'),
    withBroker: toggle('--with-broker', 'also create the broker instance (RabbitMQ + Redis)'),
    withWorkers: toggle('--with-workers', 'also create the Celery worker servers (autoscaling group <app>-<env>-worker); needs the broker'),
    workersMinSize: { flags: '--workers-min-size <n>', description: 'fewest worker servers (default: the current value; 1 for new workers)', schema: wholeNumber },
    workersMaxSize: { flags: '--workers-max-size <n>', description: 'most worker servers (default: the current value; 4 for new workers)', schema: wholeNumber },
    workerInstanceType: {
      flags: '--worker-instance-type <type>',
      description: 'worker server instance type (default: the current one; worker_instance_type for new workers)',
      schema: (zod, flag) => zod.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: `${flag} must be an instance type such as t3.small` }).optional(),
    },
    deploy: toggle('--no-deploy', 'create the infrastructure but do not run the playbooks'),
    dryRun: toggle('--dry-run', 'show what would be created or changed, and change nothing'),
    ...SSH_OPTIONS,
    ...IGNORED_YES,
    forceUnlock,
  },
  deploy: {
    roles: {
      flags: '--roles <list>',
      description: `comma-separated roles to deploy (${ROLES.join(', ')}; default: every role that has hosts)`,
      schema: (zod, flag) => parsedText(zod, (text) => parseRoles(text, flag)),
    },
    batch: {
      flags: '--batch <n|percent>',
      description: 'update the app servers this many (or this share, e.g. 25%) at a time, each out of the load balancer meanwhile (default: 1)',
      schema: (zod, flag) => parsedText(zod, (text) => parseBatchSize(text, flag)),
    },
    allAtOnce: toggle('--all-at-once', 'update every app server at the same time, in service (requests fail while uWSGI restarts): for a single-server staging'),
    releaseImage: toggle('--no-release-image', 'deploy in place only, without a new release image: instances launched later run the previous release'),
    full: toggle('--full', "run every task on every app server, even one that one check found already as wanted (by default such a server is skipped, and one whose code alone differs gets only the code tasks)"),
    ...SSH_OPTIONS,
    ...IGNORED_YES,
    forceUnlock,
  },
  rollback: {
    to: {
      flags: '--to <release>',
      description: 'the release image to go back to, by name (<app>-<env>-release-<time>) or AMI id (default: the one before the live one)',
      schema: (zod, flag) => zod.string().min(1, { message: `${flag} must name a release image` }).optional(),
    },
    dryRun: toggle('--dry-run', 'show which release would go live and which instances would be replaced, and change nothing'),
    ...CONFIRM_OPTIONS,
    forceUnlock,
  },
  decommission: {
    deleteImage: toggle('--delete-image', 'also delete the base image (as clean does)'),
    skipFinalSnapshot: toggle('--skip-final-snapshot', 'delete the database without a final snapshot (its data is lost)'),
    dryRun: toggle('--dry-run', 'show what would be deleted, and delete nothing'),
    ...CONFIRM_OPTIONS,
    forceUnlock,
  },
  clean: {
    dryRun: toggle('--dry-run', 'show what would be deleted, and delete nothing'),
    force: toggle('--force', 'delete the image even while launch templates of environments use it'),
    finalSnapshots: {
      flags: '--final-snapshots <days>',
      description: "instead of the image: delete the app's final DB snapshots older than <days> days, except the newest of each environment",
      schema: wholeNumber,
    },
    ...CONFIRM_OPTIONS,
    forceUnlock,
  },
  status: { json: toggle('--json', 'print the status as JSON, for scripts'), ...IGNORED_YES },
} satisfies Record<CommandName, OptionTable>;

/** The long flag messages name: the last one, so `--min_size, --min-size <n>` → `--min-size`. */
export function displayFlag(flags: string): string {
  return flags.match(/--[\w-]+/g)?.at(-1) ?? flags;
}
