/**
 * Runs one command: validates the input, builds the Context, dispatches to the
 * command's module, and turns whatever happens into a message and an exit code.
 * Imported lazily by cli.ts, so nothing here loads for `--help`.
 */
import { describeUnreachable } from './aws/error-codes.js';
import { ArgosError, ExitCode, type ExitCodeValue } from './errors.js';
import { createInterruptHandler, SIGNAL_EXIT_CODES, type StopSignal } from './interrupts.js';
import { checkEnvName } from './names.js';
import { COMMAND_OPTIONS } from './command-options.js';
import { parseOptions, type CommonOptions, type OptionsByCommand } from './options.js';
import type { Context } from './context.js';
import type { LocalProcesses } from './runtime.js';
import { TerminalReporter, type Reporter } from './reporter.js';
import { NEEDS_DATABASE_PASSWORD, type CommandName } from './command-names.js';

/** A command's module export: it takes the Context of that command's options. */
type CommandFunction<C extends CommandName> = (ctx: Context<OptionsByCommand[C]>) => Promise<void>;

/** Imports only the command being run; the mapped type ties each module to its command's options. */
const COMMAND_MODULES: { [C in CommandName]: () => Promise<CommandFunction<C>> } = {
  commission: async () => (await import('./commands/commission.js')).commission,
  deploy: async () => (await import('./commands/deploy.js')).deploy,
  rollback: async () => (await import('./commands/rollback.js')).rollback,
  decommission: async () => (await import('./commands/decommission.js')).decommission,
  clean: async () => (await import('./commands/clean.js')).clean,
  status: async () => (await import('./commands/status.js')).status,
};

/**
 * Runs `argos <env> <name>` with commander's raw options and returns the exit code.
 * The first Ctrl-C, SIGTERM or SIGHUP aborts the run's signal (waits stop,
 * cleanup runs, exit 130, 143 or 129); a second one exits at once.
 */
export async function runCommand<C extends CommandName>(name: C, env: string, rawOptions: Record<string, unknown>): Promise<ExitCodeValue> {
  const controller = new AbortController();
  const onStopSignal = createInterruptHandler(
    controller,
    (text) => process.stderr.write(text),
    (code) => process.exit(code),
  );
  const stopSignals = Object.keys(SIGNAL_EXIT_CODES) as StopSignal[];
  for (const signal of stopSignals) process.on(signal, onStopSignal);

  // The SDK warns on every run under Node 20 that its 2027 releases need Node 22.
  // package-lock pins a release that supports Node 20, and the README says so; the
  // warning would only bury argos's own output.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const verbose = rawOptions['verbose'] === true;
  let ctx: Context | undefined;
  let reporter: Reporter | undefined;
  try {
    checkEnvName(env);
    const options = parseOptions(name, rawOptions);
    // TypeScript does not resolve a property of OptionsByCommand[C] for a generic C; of CommonOptions it does.
    const commonOptions: CommonOptions = options;
    const interactive = Boolean(process.stdout.isTTY) && !process.env['CI'];
    // Only now, with the input valid: the Context builds the AWS clients, and loading the SDK takes time.
    const { createContext } = await import('./context.js');
    const commandCtx = await createContext({
      env,
      requirePassword: NEEDS_DATABASE_PASSWORD.has(name),
      opensSsh: 'sshCidr' in COMMAND_OPTIONS[name],
      options,
      environment: {
        AWS_REGION: process.env['AWS_REGION'],
        ARGOS_DB_PASSWORD: process.env['ARGOS_DB_PASSWORD'],
        ARGOS_SSH_CIDR: process.env['ARGOS_SSH_CIDR'],
        AWS_ACCESS_KEY: process.env['AWS_ACCESS_KEY'],
        AWS_SECRET_KEY: process.env['AWS_SECRET_KEY'],
        AWS_ENDPOINT_URL: process.env['AWS_ENDPOINT_URL'],
        ARGOS_AWS_TIMEOUT_MS: process.env['ARGOS_AWS_TIMEOUT_MS'],
        ANSIBLE_SSH_CONTROL_PATH_DIR: process.env['ANSIBLE_SSH_CONTROL_PATH_DIR'],
        HOME: process.env['HOME'],
      },
      root: process.cwd(),
      signal: controller.signal,
      processes: localProcesses,
      createReporter: (logFile, secrets) => {
        reporter = new TerminalReporter({
          stream: process.stdout,
          input: process.stdin,
          canAsk: Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY),
          interactive,
          verbose: commonOptions.verbose,
          logFile,
          secrets,
          runLabel: `pid ${process.pid}`,
        });
        return reporter;
      },
    });
    ctx = commandCtx; // for the catch and finally blocks, whichever the command
    // Fail early and clearly when there are no credentials, before any step starts.
    await ctx.clients.ec2.config.credentials();
    const command = await COMMAND_MODULES[name]();
    // One run at a time per environment (and per shared image): see lock.ts.
    const { runLocked } = await import('./lock.js');
    await runLocked(commandCtx, name, localProcesses, () => command(commandCtx));
    return ExitCode.ok;
  } catch (error) {
    return reportFailure(error, {
      verbose,
      reporter,
      interrupted: controller.signal.aborted,
      interruptedWith: exitCodeOf(controller.signal.reason),
      env,
      region: ctx?.region,
      logFile: ctx?.paths.logFile,
    });
  } finally {
    for (const signal of stopSignals) process.off(signal, onStopSignal);
    ctx?.clients.destroy();
    reporter?.close();
  }
}

/**
 * This process and its host's others, handed to the Context (the vars
 * directories' sweep) and the lock, since only this module touches the process.
 * Exported for the tests and benchmarks that build a Context as the CLI does.
 */
export const localProcesses: LocalProcesses = { pid: process.pid, uid: process.getuid?.(), isAlive: isProcessAlive };

/** Whether a process of this host runs with `pid` (signal 0 only checks; EPERM: it runs as someone else). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The exit code of an interruption: the signal's (130, 143, 129). */
function exitCodeOf(reason: unknown): ExitCodeValue {
  return reason instanceof ArgosError ? reason.exitCode : ExitCode.interrupted;
}

/** Prints one line for the user (the stack only with --verbose) and picks the exit code. */
function reportFailure(
  error: unknown,
  state: {
    verbose: boolean;
    reporter: Reporter | undefined;
    interrupted: boolean;
    interruptedWith: ExitCodeValue;
    env: string;
    region: string | undefined;
    logFile: string | undefined;
  },
): ExitCodeValue {
  const known = error instanceof ArgosError ? error : undefined;
  let message: string;
  if (state.interrupted && known?.code === 'INTERRUPTED') {
    message = known.message;
  } else if (state.interrupted && !known) {
    // Something failed after the Ctrl-C, most likely cleaning up: say what, not only "interrupted".
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    message = `interrupted, and then ${text}. Run argos ${state.env} status to see what is left; a re-run continues where it stopped`;
  } else if (known) {
    message = known.message;
  } else {
    const { name, message: text } = error instanceof Error ? error : { name: 'Error', message: String(error) };
    const where = state.logFile ? ` (details in ${state.logFile}; run with --verbose for the stack)` : '';
    const unreachable = describeUnreachable(error);
    const endpoint = process.env['AWS_ENDPOINT_URL'] || (state.region ? `the AWS endpoints of ${state.region}` : 'AWS');
    // An AWS service error (it carries $metadata): say so, and that a re-run resumes.
    message = unreachable
      ? `could not reach ${endpoint} (${unreachable}): check AWS_ENDPOINT_URL, AWS_REGION and your network, then run the command again${where}`
      : typeof error === 'object' && error !== null && '$metadata' in error
        ? `AWS refused a call with ${name}: ${text}. Fix the cause and run the command again: it continues where it stopped${where}`
        : `unexpected ${name}: ${text}${where}`;
  }
  state.reporter?.detail(`error: ${message}`);
  if (error instanceof Error && error.stack) state.reporter?.detail(error.stack);
  process.stderr.write(`argos: ${message}\n`);
  if (state.verbose && error instanceof Error) {
    let current: unknown = error;
    while (current instanceof Error) {
      process.stderr.write(`${current.stack ?? current.message}\n`);
      current = current.cause;
      if (current) process.stderr.write('caused by: ');
    }
  }
  if (state.interrupted) return state.interruptedWith;
  return known ? known.exitCode : ExitCode.failed;
}
