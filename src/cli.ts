#!/usr/bin/env node
/**
 * The entrypoint only wires: it declares the commands, adds the options
 * declared in command-options.ts, reorders `argos <env> <command>` for
 * commander, and hands over to run.ts, which it imports lazily so `argos --help`
 * never loads the AWS SDK (nor zod).
 */
import { createRequire } from 'node:module';
import type * as Commander from 'commander';
import { ArgosError, ExitCode, usageError } from './errors.js';
import { checkEnvName } from './names.js';
import { COMMANDS, isCommandName, type CommandName } from './command-names.js';
import { COMMAND_OPTIONS, COMMON_OPTIONS, type OptionTable } from './command-options.js';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };
// Loaded with require, not import: commander is CommonJS, and Node's ESM loader
// parses a CommonJS module's source for its exports first, which took ~10 of the
// ~45 ms `argos --help` spends beyond a bare Node start (BENCHMARKS.md, startup).
const { Command, CommanderError, Option } = require('commander') as typeof Commander;
type Command = Commander.Command;

const DESCRIPTIONS: Record<CommandName, string> = {
  commission: 'create the environment: base image (baked or reused), database, optional broker, load balancer, app servers (deployed to), and the release image later instances launch from',
  deploy: 'refresh hosts/hosts_<env> from the instances found by tag and run the playbooks against them; meanwhile make the next release image and make it live',
  rollback: 'point the app servers at the previous (or --to) release image and replace them, never with fewer in service',
  decommission: 'dismantle the environment after a confirmation, keeping the base image and a final database snapshot',
  clean: 'delete the base image, its snapshots and any leftover image-bake instance, after a confirmation',
  status: 'show what exists for the environment, its state and health (read-only)',
};

const EXAMPLES: Record<CommandName, string> = {
  commission: 'argos staging commission --min-size 2 --max-size 6 --instance-type t3.medium',
  deploy: 'argos staging deploy --roles app,worker',
  rollback: 'argos staging rollback --to argos-staging-release-20261126T120507Z',
  decommission: 'argos staging decommission --skip-final-snapshot',
  clean: 'argos staging clean --yes',
  status: 'argos staging status --json',
};

/** Shows `argos <env> <command>` rather than commander's `argos <command> <env>`. */
const helpConfiguration = {
  subcommandTerm: (command: Command) => `<env> ${command.name()}`,
  commandUsage: (command: Command) =>
    command.parent ? `argos <env> ${command.name()} [options]` : 'argos <env> <command> [options]',
};

/** Commander's own errors (unknown option, missing value) in argos's one-line form. */
const outputConfiguration = {
  outputError: (text: string, write: (text: string) => void) =>
    write(`argos: ${text.trim().replace(/^error: /, '')} (see argos <env> <command> --help)\n`),
};

/** Adds a table's options to `command`, as declared in command-options.ts. */
function addOptions(command: Command, table: OptionTable): Command {
  for (const declaration of Object.values(table)) {
    const option = new Option(declaration.flags, declaration.description);
    if (declaration.hidden) option.hideHelp();
    // The second argument is what --help shows: `(default: 1)`, not commander's quoted `(default: "1")`.
    command.addOption(declaration.default === undefined ? option : option.default(declaration.default, declaration.default));
  }
  return command;
}

/**
 * Declares `commission`, `deploy`, … and the options of `selected` only: the
 * program's own help lists the commands without their options, so `argos --help`
 * and `--version` need none, and one command's run or help needs its own.
 */
function buildProgram(selected: string | undefined): Command {
  const program = new Command('argos')
    .usage('<env> <command> [options]')
    .description(
      "Stand up, update and tear down an application's AWS environment.\n" +
        '<env> names the environment (e.g. staging, production): lowercase letters and digits (a hyphen only in an existing one).',
    )
    .version(version, '--version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .addHelpCommand(false)
    .exitOverride()
    .configureHelp(helpConfiguration)
    .configureOutput(outputConfiguration)
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        ...COMMANDS.map((name) => `  $ ${EXAMPLES[name]}`),
        '',
        "Run 'argos <env> <command> --help' for a command's options.",
        'Exit codes: 0 success, 1 failed, 2 usage or configuration error, 130 interrupted.',
      ].join('\n'),
    );

  for (const name of COMMANDS) {
    // The command's own options first, then the common ones, as `--help` lists them.
    const command = (name === selected ? addOptions(addOptions(new Command(name), COMMAND_OPTIONS[name]), COMMON_OPTIONS) : new Command(name))
      .helpOption('-h, --help', 'show help for this command')
      .description(DESCRIPTIONS[name])
      .argument('<env>', 'environment name')
      .addHelpText('after', `\nExample:\n  $ ${EXAMPLES[name]}`)
      .configureHelp(helpConfiguration)
      .configureOutput(outputConfiguration)
      .exitOverride()
      .action(async (env: string, options: Record<string, unknown>) => {
        const { runCommand } = await import('./run.js');
        process.exitCode = await runCommand(name, env, options);
      });
    program.addCommand(command);
  }
  return program;
}

/**
 * Puts the command first for commander (`staging commission` → `commission staging`)
 * and turns the likely slips into one-line usage errors.
 */
function reorderArgs(args: readonly string[]): string[] {
  const [first, second, ...rest] = args;
  if (first === undefined) return [];
  if (first.startsWith('-')) {
    if (['-h', '--help', '--version'].includes(first)) return [...args];
    // `argos --yes staging status`: commander would call --yes unknown, which it is not.
    const words = args.filter((arg) => !arg.startsWith('-'));
    throw usageError(`options go after the environment and the command: argos ${words[0] ?? '<env>'} ${words[1] ?? '<command>'} ${first}`);
  }
  if (first === 'help') return second !== undefined && isCommandName(second) ? [second, '--help'] : ['--help'];
  const valid = COMMANDS.join(', ');
  if (isCommandName(first)) {
    if (second !== undefined && isCommandName(second)) checkEnvName(first);
    throw usageError(`missing environment name: type it before the command, e.g. argos staging ${first}`);
  }
  if (second === undefined) throw usageError(`missing command after '${first}': use one of ${valid} (e.g. argos ${first} status)`);
  if (second === '-h' || second === '--help') return ['--help'];
  if (!isCommandName(second)) throw usageError(`unknown command '${second}': use one of ${valid}`);
  return [second, first, ...rest];
}

async function main(): Promise<void> {
  // `argos --help | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
    throw error;
  });
  try {
    const args = reorderArgs(process.argv.slice(2));
    // reorderArgs puts the command first, when there is one.
    const program = buildProgram(args[0]);
    if (args.length === 0) {
      program.outputHelp({ error: true });
      process.exitCode = ExitCode.usage;
      return;
    }
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end through here too; everything else is a usage error.
      const ok = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code);
      process.exitCode = ok ? ExitCode.ok : ExitCode.usage;
      return;
    }
    if (error instanceof ArgosError) {
      process.stderr.write(`argos: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    throw error;
  }
}

await main();
