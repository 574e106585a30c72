/**
 * Ctrl-C, as argos honours it: the first one aborts the run's signal (waits
 * stop, ansible-playbook is stopped, cleanup such as closing SSH still runs,
 * exit 130); a second one exits at once.
 */
import { ArgosError, ExitCode } from './errors.js';

/** Returns the SIGINT listener for `controller`; `write` and `exit` are the process's in the CLI. */
export function createInterruptHandler(
  controller: AbortController,
  write: (text: string) => void,
  exit: (code: number) => void,
): () => void {
  let interrupts = 0;
  return () => {
    interrupts += 1;
    if (interrupts > 1) {
      write('argos: interrupted twice; exiting without finishing cleanup\n');
      exit(ExitCode.interrupted);
      return;
    }
    write('\nargos: interrupting: finishing cleanup (Ctrl-C again to exit at once)\n');
    controller.abort(new ArgosError('INTERRUPTED', 'interrupted'));
  };
}
