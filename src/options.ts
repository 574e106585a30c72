/**
 * Validates each command's options once, at the boundary, into typed values.
 * Commander has already rejected unknown options; this checks the values.
 */
import { z } from 'zod';
import { parseSshCidr } from './cidr.js';
import { usageError } from './errors.js';
import { ROLES, type CommandName, type RoleName } from './command-names.js';

/** Options every command takes. */
export interface CommonOptions {
  readonly yes: boolean;
  readonly config: string;
  readonly sshCidr: string | undefined;
  readonly sshConfig: string | undefined;
  readonly verbose: boolean;
}

export interface CommissionOptions extends CommonOptions {
  readonly minSize: number;
  readonly maxSize: number;
  readonly instanceType: string | undefined;
  readonly dbInstanceType: string | undefined;
  readonly withBroker: boolean;
  readonly deploy: boolean;
  readonly dryRun: boolean;
}

export interface DeployOptions extends CommonOptions {
  /** Undefined: every role that has hosts. */
  readonly roles: readonly RoleName[] | undefined;
}

export interface DecommissionOptions extends CommonOptions {
  readonly deleteImage: boolean;
  readonly skipFinalSnapshot: boolean;
  readonly dryRun: boolean;
}

export interface CleanOptions extends CommonOptions {
  readonly dryRun: boolean;
}

export interface StatusOptions extends CommonOptions {
  readonly json: boolean;
}

/** Each command's validated options. */
export interface OptionsByCommand {
  commission: CommissionOptions;
  deploy: DeployOptions;
  decommission: DecommissionOptions;
  clean: CleanOptions;
  status: StatusOptions;
}

const wholeNumber = (flag: string) =>
  z
    .string()
    // abort: a size that is not a number must not reach the min/max comparison.
    .regex(/^\d+$/, { error: (issue) => `${flag} must be a whole number, not '${String(issue.input)}'`, abort: true })
    .transform(Number);

const optionalText = z.string().optional();

const common = z.object({
  yes: z.boolean().default(false),
  config: z.string().min(1, { message: '--config must name a file' }),
  sshCidr: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      const parsed = value === undefined ? undefined : parseSshCidr(value);
      if (parsed && 'error' in parsed) ctx.addIssue({ code: 'custom', message: `--ssh-cidr: ${parsed.error}` });
    })
    .transform((value) => {
      const parsed = value === undefined ? undefined : parseSshCidr(value);
      return parsed && 'cidr' in parsed ? parsed.cidr : undefined;
    }),
  sshConfig: optionalText,
  verbose: z.boolean().default(false),
});

const instanceType = (flag: string) =>
  z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: `${flag} must be an instance type such as t3.small` }).optional();

const schemas = {
  commission: common
    .extend({
      minSize: wholeNumber('--min-size'),
      maxSize: wholeNumber('--max-size'),
      instanceType: instanceType('--instance-type'),
      dbInstanceType: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, { message: '--db-instance-type must be an RDS class such as db.t3.micro' }).optional(),
      withBroker: z.boolean().default(false),
      deploy: z.boolean().default(true),
      dryRun: z.boolean().default(false),
    })
    .superRefine((value, ctx) => {
      if (value.maxSize < 1) ctx.addIssue({ code: 'custom', message: '--max-size must be at least 1' });
      if (value.minSize > value.maxSize) {
        ctx.addIssue({ code: 'custom', message: `--min-size (${value.minSize}) must not be greater than --max-size (${value.maxSize})` });
      }
    }),
  deploy: common.extend({
    roles: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return undefined;
        const roles = value.split(',').map((role) => role.trim()).filter((role) => role !== '');
        const unknown = roles.filter((role) => !(ROLES as readonly string[]).includes(role));
        if (roles.length === 0 || unknown.length > 0) {
          ctx.addIssue({
            code: 'custom',
            message: `--roles: ${roles.length === 0 ? 'no role given' : `unknown role ${unknown.map((r) => `'${r}'`).join(', ')}`}; valid roles: ${ROLES.join(', ')}`,
          });
          return z.NEVER;
        }
        return [...new Set(roles)] as RoleName[];
      }),
  }),
  decommission: common.extend({
    deleteImage: z.boolean().default(false),
    skipFinalSnapshot: z.boolean().default(false),
    dryRun: z.boolean().default(false),
  }),
  clean: common.extend({ dryRun: z.boolean().default(false) }),
  status: common.extend({ json: z.boolean().default(false) }),
} satisfies Record<CommandName, z.ZodType>;

/** Validates commander's raw options for `command`; a bad value is a usage error (exit 2). */
export function parseOptions<C extends CommandName>(command: C, raw: Record<string, unknown>): OptionsByCommand[C] {
  const result = schemas[command].safeParse(raw);
  if (!result.success) {
    throw usageError(result.error.issues.map((issue) => issue.message).join('; '));
  }
  return result.data as unknown as OptionsByCommand[C];
}
