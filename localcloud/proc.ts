/**
 * Process helpers of the local cloud: one thin wrapper to run commands (argument
 * arrays, never a shell string), PID checks that survive PID reuse, and one
 * `waitFor` used for every wait.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

/** The error every local cloud failure raises: a message that says what to do next, and the cause. */
export class LocalCloudError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalCloudError';
  }
}

/** Runs a command and returns its stdout; on failure the error carries the tail of stderr. */
export async function run(file: string, args: readonly string[], options: { input?: string } = {}): Promise<string> {
  const result = await execa(file, args, { reject: false, input: options.input ?? '' });
  if (result.exitCode !== 0) {
    const tail = String(result.stderr ?? '').trim().split('\n').slice(-5).join('\n');
    throw new LocalCloudError(`${file} ${args.join(' ')} exited with ${String(result.exitCode)}: ${tail}`);
  }
  return String(result.stdout ?? '');
}

/** Like {@link run}, but a failure is returned, not thrown (for sweeping what may already be gone). */
export async function tryRun(file: string, args: readonly string[]): Promise<boolean> {
  const result = await execa(file, args, { reject: false });
  return result.exitCode === 0;
}

/** A process recorded in the state directory: its PID and kernel start time, so a reused PID is never signalled. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: string;
}

/** The start time of a PID (field 22 of /proc/PID/stat), or undefined when it is gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the recorded process still runs (same PID and same start time). */
export function isAlive(ref: ProcessRef | undefined): boolean {
  return ref !== undefined && processStartTime(ref.pid) === ref.startTime;
}

/** Records a PID with its start time. */
export function refOf(pid: number): ProcessRef {
  const startTime = processStartTime(pid);
  if (startTime === undefined) throw new LocalCloudError(`process ${String(pid)} exited at once`);
  return { pid, startTime };
}

/** Sends a signal to a recorded process if it is still that process. */
export function signal(ref: ProcessRef | undefined, sig: NodeJS.Signals): boolean {
  if (!isAlive(ref) || ref === undefined) return false;
  try {
    process.kill(ref.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a detached process in its own session (it outlives this process, as the
 * harness must when `up` returns), output to `logFile`, and records it.
 */
export function spawnDetached(file: string, args: readonly string[], logFile: string): ProcessRef {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new LocalCloudError(`could not start ${file}`);
    child.unref();
    return refOf(child.pid);
  } finally {
    closeSync(fd);
  }
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new LocalCloudError(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Stops a recorded process: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopProcess(ref: ProcessRef | undefined, graceMs = 3000): Promise<void> {
  if (!signal(ref, 'SIGTERM')) return;
  try {
    await waitFor('process exit', () => !isAlive(ref), graceMs, 50);
  } catch {
    signal(ref, 'SIGKILL');
    await waitFor('process exit after SIGKILL', () => !isAlive(ref), 5000, 50);
  }
}
