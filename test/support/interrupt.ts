/**
 * Presses Ctrl-C on the real CLI at a chosen moment, as a person would: the
 * fault tests interrupt a bake, a deploy or a decommission this way and then
 * check what the run left behind.
 */
import { execa } from 'execa';
import { CLI } from './cli.js';

/** What an interrupted run returned and printed (stdout and stderr interleaved). */
export interface InterruptedRun {
  exitCode: number;
  output: string;
}

/**
 * Runs `node dist/cli.js ...args` in `cwd` with exactly `env` (plus PATH and
 * HOME) and sends SIGINT as soon as a line matching `marker` appears on its
 * output; with `again`, a second time once it says it is interrupting (if it
 * is still running then).
 */
export async function interruptWhen(
  args: string[],
  marker: RegExp,
  options: { cwd: string; env: Record<string, string>; again?: boolean; timeoutMs?: number },
): Promise<InterruptedRun> {
  const child = execa('node', [CLI, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env['PATH'] ?? '', HOME: options.cwd, ...options.env },
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: options.timeoutMs ?? 900_000,
  });
  let output = '';
  let presses = 0;
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    // Two signals sent at once merge into one: the second waits for the first to be seen.
    if (presses === 0 && marker.test(output)) {
      presses = 1;
      child.kill('SIGINT');
    } else if (options.again === true && presses === 1 && output.includes('interrupting: finishing cleanup')) {
      presses = 2;
      child.kill('SIGINT');
    }
  });
  const result = await child;
  return { exitCode: result.exitCode ?? -1, output };
}
