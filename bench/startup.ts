/**
 * Startup: how fast the CLI answers. `argos --help` and `argos <env> status`
 * (a commissioned environment on moto) against bare `node -e ""`, spawned the
 * same way, interleaved round by round (the order rotates), so a change in the
 * machine's load falls on all three alike.
 */
import { rm } from 'node:fs/promises';
import { execa } from 'execa';
import { CLI, makeProject, runCli } from '../test/support/cli.js';
import type { BenchAccount } from './aws-account.js';
import { ratioOfMedians, summarize, timeMs, type Summary } from './stats.js';

/** What was timed, median and spread in ms. */
export interface StartupResult {
  runs: number;
  bareNode: Summary;
  help: Summary;
  status: Summary;
  /** help median / bare node median (goal: ≤ 2). */
  helpRatio: number;
  statusRatio: number;
}

/** Spawns `node ...args` in `cwd` with exactly `env` (plus PATH and HOME), as test/support/cli.ts runCli does; throws on a non-zero exit. */
async function timeNode(args: string[], cwd: string, env: Record<string, string>): Promise<number> {
  let exitCode: number | undefined;
  const ms = await timeMs(async () => {
    const result = await execa('node', args, { cwd, env: { PATH: process.env['PATH'] ?? '', HOME: cwd, ...env }, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000 });
    exitCode = result.exitCode;
  });
  if (exitCode !== 0) throw new Error(`node ${args.join(' ')} exited ${String(exitCode)}`);
  return ms;
}

/**
 * Times `runs` rounds of the three commands. The environment `bench` is
 * commissioned first (`commission --no-deploy`, reusing the stand-in image) so
 * `status` reports real resources.
 */
export async function measureStartup(account: BenchAccount, runs: number, log: (line: string) => void): Promise<StartupResult> {
  await account.reset();
  const project = await makeProject();
  try {
    const commissioned = await runCli(['bench', 'commission', '--no-deploy', '--yes', '--ssh-cidr', '203.0.113.7/32'], { cwd: project, env: account.env, timeout: 300_000 });
    if (commissioned.exitCode !== 0) throw new Error(`commission --no-deploy failed: ${commissioned.stderr}`);
    const result = await timeRounds(project, account.env, runs);
    log(`startup: ${runs} rounds done`);
    return result;
  } finally {
    await rm(project, { recursive: true, force: true });
  }
}

/** `runs` interleaved rounds of bare Node, `--help` and `status`, after one untimed round. */
async function timeRounds(project: string, env: Record<string, string>, runs: number): Promise<StartupResult> {
  const commands = {
    bareNode: () => timeNode(['-e', ''], project, env),
    help: () => timeNode([CLI, '--help'], project, env),
    status: () => timeNode([CLI, 'bench', 'status'], project, env),
  };
  const names = Object.keys(commands) as (keyof typeof commands)[];
  const times: Record<keyof typeof commands, number[]> = { bareNode: [], help: [], status: [] };
  // The untimed round: the first spawn pays for cold file caches.
  for (const name of names) await commands[name]();
  for (let round = 0; round < runs; round += 1) {
    // The order rotates each round.
    for (let index = 0; index < names.length; index += 1) {
      const name = names[(round + index) % names.length] as keyof typeof commands;
      times[name].push(await commands[name]());
    }
  }
  const [bareNode, help, status] = [summarize(times.bareNode), summarize(times.help), summarize(times.status)];
  return { runs, bareNode, help, status, helpRatio: ratioOfMedians(help, bareNode), statusRatio: ratioOfMedians(status, bareNode) };
}
