/**
 * The y/n question destructive commands ask before they delete anything,
 * asked through the reporter (the one I/O host).
 */
import { ArgosError, usageError } from './errors.js';
import type { Reporter } from './reporter.js';

/** The answers the original manage.py took as yes; anything else is no. */
const YES = new Set(['y', 'yes', 'yeah', 'ya', 'aye']);

/** Whether an answer counts as yes (case and surrounding blanks ignored). */
export function isYes(answer: string): boolean {
  return YES.has(answer.trim().toLowerCase());
}

/** When and how to ask. */
export interface ConfirmOptions {
  /** `--yes` was given: do not ask. */
  yes: boolean;
  /** Names the action in the refusal when no one can be asked, e.g. "decommission staging". */
  action: string;
  signal: AbortSignal;
}

/**
 * Asks `question` and resolves when the user said yes. A no throws a DECLINED
 * error ("Exiting.", exit 1, nothing done); with no terminal and no `--yes` it
 * refuses (exit 2) rather than hang waiting for input that never comes.
 */
export async function confirmOrExit(reporter: Reporter, question: string, options: ConfirmOptions): Promise<void> {
  if (options.yes) return;
  const answer = await reporter.ask(`${question} (y/n)`, options.signal);
  if (answer === undefined) {
    throw usageError(
      `refusing to ${options.action} without confirmation: there is no terminal to ask on; re-run with --yes to confirm`,
    );
  }
  if (!isYes(answer)) throw new ArgosError('DECLINED', 'Exiting.');
}
