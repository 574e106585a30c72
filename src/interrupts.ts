/**
 * Ctrl-C, SIGTERM and SIGHUP, as argos honours them: the first one aborts the
 * run's signal (waits stop, ansible-playbook is stopped, cleanup such as
 * closing SSH or removing a bake instance still runs, then exit 130, 143 or
 * 129: 128 + the signal's number, as shells report it); a second one exits at once.
 */
import { ArgosError, ExitCode, type ExitCodeValue } from './errors.js';

/** The signals argos turns into an orderly stop, and the exit code of each. */
export const SIGNAL_EXIT_CODES = {
  SIGINT: ExitCode.interrupted,
  SIGTERM: ExitCode.terminated,
  SIGHUP: ExitCode.hangUp,
} as const satisfies Record<string, ExitCodeValue>;

/** One of {@link SIGNAL_EXIT_CODES}' signals. */
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/** The abort reason of a run stopped by a signal: an INTERRUPTED error that exits with that signal's code. */
export class InterruptedError extends ArgosError {
  readonly signalName: StopSignal;

  constructor(signalName: StopSignal) {
    super('INTERRUPTED', 'interrupted');
    this.signalName = signalName;
  }

  override get exitCode(): ExitCodeValue {
    return SIGNAL_EXIT_CODES[this.signalName];
  }
}

/**
 * Returns the listener for every {@link StopSignal} of one run (Node passes the
 * signal's name); `write` and `exit` are the process's in the CLI.
 */
export function createInterruptHandler(
  controller: AbortController,
  write: (text: string) => void,
  exit: (code: number) => void,
): (signal?: StopSignal) => void {
  let interrupts = 0;
  return (signal = 'SIGINT') => {
    interrupts += 1;
    if (interrupts > 1) {
      write(
        `argos: ${signal === 'SIGINT' ? 'interrupted twice' : `${signal} after an interruption`}; exiting without finishing cleanup. ` +
          'Its lock stays behind: the next run says whose it is and how to break it (--force-unlock)\n',
      );
      exit(SIGNAL_EXIT_CODES[signal]);
      return;
    }
    const again = signal === 'SIGINT' ? 'Ctrl-C again' : `send ${signal} again`;
    write(`\nargos: ${signal === 'SIGINT' ? 'interrupting' : `${signal} received`}: finishing cleanup (${again} to exit at once)\n`);
    controller.abort(new InterruptedError(signal));
  };
}
