/**
 * Validates each command's options once, at the boundary, into typed values.
 * Commander has already rejected unknown options; this checks the values, with
 * the validators declared in command-options.ts, from which the types derive too.
 * Loaded only once the usage checks passed (it loads zod), never the AWS SDK.
 */
import { z } from 'zod';
import { COMMAND_OPTIONS, COMMON_OPTIONS, displayFlag, type OptionDeclaration, type OptionTable, type SSH_OPTIONS } from './command-options.js';
import type { CommandName } from './command-names.js';
import { usageError } from './errors.js';

/** The zod shape of a table: what each option's validator builds. */
type ShapeOf<T> = { -readonly [K in keyof T]: T[K] extends OptionDeclaration<infer S> ? S : never };

/** The validated options of a table, read-only. */
type OptionsOf<T> = Readonly<z.output<z.ZodObject<ShapeOf<T>>>>;


/** Builds the zod object of a table from its declarations. */
function objectOf<T extends OptionTable>(table: T): z.ZodObject<ShapeOf<T>> {
  const shape = Object.fromEntries(Object.entries(table).map(([key, option]) => [key, option.schema(z, displayFlag(option.flags))]));
  // Object.fromEntries cannot type the keys; ShapeOf states what each entry holds.
  return z.object(shape as ShapeOf<T>);
}

/** Options every command takes. */
export type CommonOptions = OptionsOf<typeof COMMON_OPTIONS>;

/** The SSH options of the commands that reach the servers (commission, deploy). */
export type SshOptions = OptionsOf<typeof SSH_OPTIONS>;

/** Each command's validated options. */
export type OptionsByCommand = { [C in CommandName]: OptionsOf<typeof COMMON_OPTIONS & (typeof COMMAND_OPTIONS)[C]> };

export type CommissionOptions = OptionsByCommand['commission'];
export type DeployOptions = OptionsByCommand['deploy'];
export type RollbackOptions = OptionsByCommand['rollback'];
export type DecommissionOptions = OptionsByCommand['decommission'];
export type CleanOptions = OptionsByCommand['clean'];
export type StatusOptions = OptionsByCommand['status'];

/** A command's options object: the common options, then `own`; before the checks that span options. */
function commandObject<T extends OptionTable>(own: T): z.ZodObject<ShapeOf<typeof COMMON_OPTIONS & T>> {
  return objectOf({ ...COMMON_OPTIONS, ...own });
}

/** Each command's schema: its options' validators, plus the checks that span options. */
const schemas: { [C in CommandName]: z.ZodType<OptionsByCommand[C]> } = {
  // Checked again against the environment's current sizes once they are known (commission.ts).
  commission: commandObject(COMMAND_OPTIONS.commission).superRefine((value, ctx) => {
    if (value.maxSize !== undefined && value.maxSize < 1) ctx.addIssue({ code: 'custom', message: '--max-size must be at least 1' });
    if (value.minSize !== undefined && value.maxSize !== undefined && value.minSize > value.maxSize) {
      ctx.addIssue({ code: 'custom', message: `--min-size (${value.minSize}) must not be greater than --max-size (${value.maxSize})` });
    }
    if (value.workersMaxSize !== undefined && value.workersMaxSize < 1) ctx.addIssue({ code: 'custom', message: '--workers-max-size must be at least 1' });
    if (value.workersMinSize !== undefined && value.workersMaxSize !== undefined && value.workersMinSize > value.workersMaxSize) {
      ctx.addIssue({ code: 'custom', message: `--workers-min-size (${value.workersMinSize}) must not be greater than --workers-max-size (${value.workersMaxSize})` });
    }
    if (value.applyNow && value.dbInstanceType === undefined) {
      ctx.addIssue({ code: 'custom', message: '--apply-now applies a change of --db-instance-type: give the class too (e.g. --db-instance-type db.t3.small --apply-now)' });
    }
  }),
  deploy: commandObject(COMMAND_OPTIONS.deploy),
  rollback: commandObject(COMMAND_OPTIONS.rollback),
  decommission: commandObject(COMMAND_OPTIONS.decommission),
  clean: commandObject(COMMAND_OPTIONS.clean),
  status: commandObject(COMMAND_OPTIONS.status),
};

/** Validates commander's raw options for `command`; a bad value is a usage error (exit 2). */
export function parseOptions<C extends CommandName>(command: C, raw: Record<string, unknown>): OptionsByCommand[C] {
  const result = schemas[command].safeParse(raw);
  if (!result.success) {
    throw usageError(result.error.issues.map((issue) => issue.message).join('; '));
  }
  return result.data;
}
