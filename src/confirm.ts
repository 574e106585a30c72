/**
 * The y/n question destructive commands ask before they delete anything.
 */
import { createInterface } from 'node:readline/promises';
import { ArgosError, usageError } from './errors.js';

/** The answers the original manage.py took as yes; anything else is no. */
const YES = new Set(['y', 'yes', 'yeah', 'ya', 'aye']);

/** Whether an answer counts as yes (case and surrounding blanks ignored). */
export function isYes(answer: string): boolean {
  return YES.has(answer.trim().toLowerCase());
}

/** Where and how to ask. */
export interface ConfirmOptions {
  /** `--yes` was given: do not ask. */
  yes: boolean;
  /** Whether a person can answer (stdin and stdout are terminals). */
  interactive: boolean;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Names the action in the refusal when no one can be asked, e.g. "decommission staging". */
  action: string;
  signal?: AbortSignal | undefined;
}

/**
 * Asks `question` and resolves when the user said yes. A no throws a DECLINED
 * error ("Exiting.", exit 1, nothing done); with no terminal and no `--yes` it
 * refuses (exit 2) rather than hang waiting for input that never comes.
 */
export async function confirmOrExit(question: string, options: ConfirmOptions): Promise<void> {
  if (options.yes) return;
  if (!options.interactive) {
    throw usageError(
      `refusing to ${options.action} without confirmation: there is no terminal to ask on; re-run with --yes to confirm`,
    );
  }
  const rl = createInterface({ input: options.input, output: options.output, terminal: true });
  // Ctrl-C at the prompt is a no, not a hang.
  const interrupted = new Promise<never>((_, reject) => {
    rl.once('SIGINT', () => reject(new ArgosError('INTERRUPTED', 'Interrupted: nothing was done.')));
  });
  try {
    const answer = await Promise.race([rl.question(`${question} (y/n) `, { signal: options.signal ?? new AbortController().signal }), interrupted]);
    if (!isYes(answer)) throw new ArgosError('DECLINED', 'Exiting.');
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw new ArgosError('INTERRUPTED', 'Interrupted: nothing was done.', { cause: error });
    throw error;
  } finally {
    rl.close();
  }
}
