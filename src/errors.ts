/**
 * The one error type argos raises on purpose. Its message is written for the
 * user (what is wrong and what to do next); `code` lets tests and callers tell
 * failures apart; `exitCode` is what the top-level handler exits with.
 */

/** Exit codes of the CLI, as documented in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** SIGHUP (128 + 1): the terminal went away; cleanup ran. */
  hangUp: 129,
  /** Ctrl-C (SIGINT, 128 + 2); cleanup ran. */
  interrupted: 130,
  /** SIGTERM (128 + 15), e.g. from kill or a CI runner's timeout; cleanup ran. */
  terminated: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Machine-readable kinds of failure; each maps to one exit code. */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG'
  | 'CREDENTIALS'
  | 'DECLINED'
  | 'FAILED'
  /** A resource found by name belongs to another app or environment (its tags say so). */
  | 'CONFLICT'
  | 'TIMEOUT'
  | 'INTERRUPTED';

const exitCodes: Record<ErrorCode, ExitCodeValue> = {
  USAGE: ExitCode.usage,
  CONFIG: ExitCode.usage,
  CREDENTIALS: ExitCode.usage,
  DECLINED: ExitCode.failed,
  FAILED: ExitCode.failed,
  CONFLICT: ExitCode.failed,
  TIMEOUT: ExitCode.failed,
  INTERRUPTED: ExitCode.interrupted,
};

/** An expected failure with a user-facing message, a code and an optional cause. */
export class ArgosError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArgosError';
    this.code = code;
  }

  /** The process exit code this error maps to. */
  get exitCode(): ExitCodeValue {
    return exitCodes[this.code];
  }
}

/** Shorthand for a usage error (bad argument or option): exit code 2. */
export function usageError(message: string): ArgosError {
  return new ArgosError('USAGE', message);
}

/** Shorthand for a configuration error (config file, credentials): exit code 2. */
export function configError(message: string, cause?: unknown): ArgosError {
  return new ArgosError('CONFIG', message, { cause });
}
