/**
 * The one I/O host: the only way argos talks to the person running it.
 * Commands and modules receive a Reporter (through the Context) and never
 * print or read: progress, messages, the command's result (the status table,
 * JSON) and questions all go through here. This keeps output consistent, lets
 * the full log be written in one place, and lets tests record every step and
 * answer every prompt.
 */
import { mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { createLogUpdate } from 'log-update';
import { ArgosError } from './errors.js';

/** A running step, as the code inside it sees it. */
export interface StepHandle {
  /** Says what the step is doing now (e.g. "waiting for the database: creating"). */
  note(detail: string): void;
  /** Marks the step skipped (e.g. "exists") instead of done. */
  skip(reason: string): void;
}

/** Progress and messages, for the terminal and the log. */
export interface Reporter {
  /** Runs `run` as a titled step: shows it running with its elapsed time, then done, skipped or failed. */
  step<T>(title: string, run: (step: StepHandle) => Promise<T>): Promise<T>;
  /** A line the user should see. */
  info(message: string): void;
  /** A line the user should notice. */
  warn(message: string): void;
  /** Detail kept in the log, shown on screen only with --verbose (e.g. ansible-playbook output). */
  detail(message: string): void;
  /** Announces the steps to come, shown as pending until they start (a live list on a TTY). */
  plan(titles: readonly string[]): void;
  /**
   * The command's result (the status table, JSON for scripts): written as is,
   * without a timestamp, so it can be piped; also kept in the log.
   */
  result(text: string): void;
  /**
   * Asks a person `question` and resolves their answer, or `undefined` when no
   * one can be asked (no terminal). Rejects with an INTERRUPTED error on Ctrl-C
   * at the prompt or when `signal` aborts.
   */
  ask(question: string, signal: AbortSignal): Promise<string | undefined>;
  /** Flushes and closes the log. */
  close(): void;
}

/** How a {@link TerminalReporter} writes. */
export interface TerminalReporterOptions {
  /** Where user-facing lines go (stdout in the CLI). */
  stream: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Where answers come from (stdin in the CLI); without it, or when it is no terminal, nothing is asked. */
  input?: NodeJS.ReadableStream | undefined;
  /** Whether a person can answer: `input` and `stream` are terminals. */
  canAsk?: boolean;
  /** Names the run in the log's first line (the CLI passes its pid). */
  runLabel?: string;
  /** Live redrawn step lines; when false, one timestamped line per event (CI, pipes). */
  interactive: boolean;
  verbose: boolean;
  /** Full log of the run, appended to; its folder is created. */
  logFile?: string | undefined;
  /** Values masked in every line written anywhere (defence in depth: secrets are never passed in the first place). */
  secrets?: readonly string[];
  /** Clock, for tests. */
  now?: () => number;
  /** In non-interactive mode, how often a step's unchanged wait is repeated, in ms. */
  noteInterval?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

interface RunningStep {
  title: string;
  started: number;
  note: string;
  lastPrinted: number;
}

/** The CLI's reporter: a live view on a TTY, plain timestamped lines otherwise, and the log file. */
export class TerminalReporter implements Reporter {
  readonly #options: Required<Omit<TerminalReporterOptions, 'logFile' | 'input'>> & Pick<TerminalReporterOptions, 'logFile' | 'input'>;
  readonly #running = new Set<RunningStep>();
  #pending: string[] = [];
  readonly #live: ReturnType<typeof createLogUpdate> | undefined;
  #logFd: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #frame = 0;

  constructor(options: TerminalReporterOptions) {
    this.#options = { secrets: [], now: Date.now, noteInterval: 30_000, canAsk: false, runLabel: '', ...options };
    if (options.interactive) {
      this.#live = createLogUpdate(options.stream as NodeJS.WriteStream, { showCursor: true });
    }
    if (options.logFile) {
      this.#logFd = openLog(options.logFile);
      this.#log(`---- argos run started${this.#options.runLabel ? `, ${this.#options.runLabel}` : ''}`);
    }
  }

  async step<T>(title: string, run: (step: StepHandle) => Promise<T>): Promise<T> {
    const step: RunningStep = { title, started: this.#now(), note: '', lastPrinted: this.#now() };
    let skipped: string | undefined;
    this.#pending = this.#pending.filter((pending) => pending !== title);
    this.#running.add(step);
    this.#log(`start: ${title}`);
    if (!this.#live) this.#plain(`▸ ${title}`);
    this.#render();
    const handle: StepHandle = {
      note: (detail) => {
        if (detail === step.note) return;
        step.note = detail;
        this.#log(`${title}: ${detail}`);
        if (!this.#live) this.#printNote(step);
        this.#render();
      },
      skip: (reason) => {
        skipped = reason;
      },
    };
    try {
      const result = await run(handle);
      const elapsed = formatDuration(this.#now() - step.started);
      this.#finish(step, skipped === undefined ? `✓ ${title} (${elapsed})` : `– ${title}: ${skipped}`);
      return result;
    } catch (error) {
      this.#finish(step, `✗ ${title} (failed after ${formatDuration(this.#now() - step.started)})`);
      throw error;
    }
  }

  plan(titles: readonly string[]): void {
    this.#pending = [...titles];
    this.#log(`plan: ${titles.join(' → ')}`);
    this.#render();
  }

  info(message: string): void {
    this.#log(message);
    this.#above(message);
  }

  result(text: string): void {
    this.#log(text);
    this.#live?.clear();
    this.#options.stream.write(`${this.#redact(text)}\n`);
    this.#render();
  }

  async ask(question: string, signal: AbortSignal): Promise<string | undefined> {
    const { input } = this.#options;
    if (!this.#options.canAsk || !input) return undefined;
    this.#log(`asked: ${question}`);
    // The live step list would redraw over the prompt: clear it while asking.
    this.#live?.clear();
    const rl = createInterface({ input, output: this.#options.stream, terminal: true });
    // Ctrl-C at the prompt is a no, not a hang.
    const interrupted = new Promise<never>((_, reject) => {
      rl.once('SIGINT', () => reject(new ArgosError('INTERRUPTED', 'Interrupted: nothing was done.')));
    });
    try {
      const answer = await Promise.race([rl.question(`${question} `, { signal }), interrupted]);
      this.#log(`answered: ${answer}`);
      return answer;
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw new ArgosError('INTERRUPTED', 'Interrupted: nothing was done.', { cause: error });
      throw error;
    } finally {
      rl.close();
      this.#render();
    }
  }

  warn(message: string): void {
    this.#log(`warning: ${message}`);
    this.#above(`! ${message}`);
  }

  detail(message: string): void {
    this.#log(message);
    if (this.#options.verbose) this.#above(message);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#live?.done();
    if (this.#logFd !== undefined) {
      this.#log('---- argos run ended');
      closeSync(this.#logFd);
      this.#logFd = undefined;
    }
  }

  #finish(step: RunningStep, line: string): void {
    this.#running.delete(step);
    this.#log(line);
    this.#above(line);
  }

  /** Writes a permanent line above the live area. */
  #above(line: string): void {
    if (this.#live) {
      this.#live.clear();
      this.#options.stream.write(`${this.#redact(line)}\n`);
      this.#render();
    } else {
      this.#plain(line);
    }
  }

  #plain(line: string): void {
    const stamp = new Date(this.#now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    this.#options.stream.write(`${stamp} ${this.#redact(line)}\n`);
  }

  #printNote(step: RunningStep): void {
    const now = this.#now();
    step.lastPrinted = now;
    const note = step.note ? `: ${step.note}` : ': still running';
    this.#plain(`  ${step.title}${note} (${formatDuration(now - step.started)})`);
  }

  /**
   * Redraws the running steps with a spinner and elapsed time on a TTY; elsewhere
   * repeats each long-running step's state every `noteInterval` so a CI log shows
   * the run is alive.
   */
  #render(): void {
    if (!this.#live) {
      if (this.#running.size === 0) {
        if (this.#timer) clearInterval(this.#timer);
        this.#timer = undefined;
      } else if (!this.#timer) {
        this.#timer = setInterval(() => {
          const now = this.#now();
          for (const step of this.#running) {
            if (now - step.lastPrinted >= this.#options.noteInterval) this.#printNote(step);
          }
        }, Math.min(this.#options.noteInterval, 5_000));
        this.#timer.unref();
      }
      return;
    }
    if (this.#running.size === 0 && this.#pending.length === 0) {
      this.#live.clear();
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (!this.#timer) {
      this.#timer = setInterval(() => {
        this.#frame = (this.#frame + 1) % SPINNER.length;
        this.#render();
      }, 120);
      // A forgotten step must never keep the process alive.
      this.#timer.unref();
    }
    const now = this.#now();
    const lines = [...this.#running].map((step) => {
      const note = step.note ? ` — ${step.note}` : '';
      return `${SPINNER[this.#frame]} ${step.title}${note} (${formatDuration(now - step.started)})`;
    });
    lines.push(...this.#pending.map((title) => `○ ${title} (pending)`));
    this.#live(this.#redact(lines.join('\n')));
  }

  #log(line: string): void {
    if (this.#logFd === undefined) return;
    // Synchronous on purpose: the log must be complete even when the process exits right after.
    writeSync(this.#logFd, `${new Date(this.#now()).toISOString()} ${this.#redact(line)}\n`);
  }

  #redact(text: string): string {
    let result = text;
    for (const secret of this.#options.secrets) {
      if (secret !== '') result = result.replaceAll(secret, '***');
    }
    return result;
  }

  #now(): number {
    return this.#options.now();
  }
}

/** Opens the run's log for appending (its folder made first), or says plainly why it cannot be written. */
function openLog(logFile: string): number {
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    return openSync(logFile, 'a', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `${dirname(logFile)} is a file, not a folder: move it out of the way`
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied: make the project folder writable for you'
          : code === 'EISDIR'
            ? `${logFile} is a folder: remove it`
            : (error as Error).message;
    throw new ArgosError('CONFIG', `cannot write the log ${logFile}: ${why}`, { cause: error });
  }
}

/** `3.2s`, `4m05s`, `1h02m`: short enough for a status line. */
export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
