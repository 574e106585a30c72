/**
 * Presses Ctrl-C on the real CLI at a chosen moment, as a person would: the
 * fault tests interrupt a bake, a deploy or a decommission this way and then
 * check what the run left behind.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { baseCliEnv, CLI } from './cli.js';

/** The PIDs of `pid`'s descendants (children, their children, …), from /proc. */
function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the command in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const child of parents.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** What an interrupted run returned and printed (stdout and stderr interleaved). */
export interface InterruptedRun {
  exitCode: number;
  output: string;
}

/**
 * Runs `node dist/cli.js ...args` in `cwd` with exactly `env` (plus PATH and
 * HOME) and sends SIGINT as soon as a line matching `marker` appears on its
 * output; with `again`, a second time once it says it is interrupting (if it
 * is still running then). With `kill`, sends SIGKILL instead, to the CLI and
 * every process under it (ansible-playbook, ssh), by PID: a run that dies
 * at once, as with a lost machine, and can clean up nothing.
 */
export async function interruptWhen(
  args: string[],
  marker: RegExp,
  options: { cwd: string; env: Record<string, string>; again?: boolean; kill?: boolean; timeoutMs?: number },
): Promise<InterruptedRun> {
  const child = execa('node', [CLI, ...args], {
    cwd: options.cwd,
    env: { ...baseCliEnv(options.cwd), ...options.env },
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
      if (options.kill === true && child.pid !== undefined) {
        const tree = descendantsOf(child.pid);
        child.kill('SIGKILL');
        for (const pid of tree) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
        }
      } else {
        child.kill('SIGINT');
      }
    } else if (options.again === true && presses === 1 && output.includes('interrupting: finishing cleanup')) {
      presses = 2;
      child.kill('SIGINT');
    }
  });
  const result = await child;
  return { exitCode: result.exitCode ?? -1, output };
}
