/**
 * The bench's interrupt handling (bench/interrupt.ts) in a real process: SIGINT
 * or SIGTERM runs the registered stops, newest first, waiting for each, skips
 * the ones their holder unregistered, and exits 130 or 143.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argos-bench-interrupt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts a process that registers three stops (unregisters one), says "ready", then waits; signals it; returns its exit code and what its stops wrote. */
async function interrupt(signal: 'SIGINT' | 'SIGTERM', times = 1): Promise<{ exitCode: number | undefined; stopped: string; stderr: string }> {
  const script = join(dir, 'holder.ts');
  const out = join(dir, 'stopped');
  await writeFile(script, [
    `import { appendFileSync } from 'node:fs';`,
    `import { installInterruptHandler, stopOnInterrupt } from ${JSON.stringify(join(REPO_ROOT, 'bench', 'interrupt.ts'))};`,
    `installInterruptHandler((line) => process.stderr.write(line + '\\n'));`,
    // The oldest stop is slow: the exit waits for it.
    `stopOnInterrupt('the cloud', () => new Promise((resolve) => setTimeout(() => { appendFileSync(${JSON.stringify(out)}, 'cloud\\n'); resolve(); }, 300)));`,
    `const done = stopOnInterrupt('a finished thing', () => appendFileSync(${JSON.stringify(out)}, 'finished\\n'));`,
    `done();`,
    `stopOnInterrupt('moto', () => { appendFileSync(${JSON.stringify(out)}, 'moto\\n'); throw new Error('already gone'); });`,
    `process.stdout.write('ready\\n');`,
    `setInterval(() => {}, 1000);`,
  ].join('\n'));
  // One process (node with tsx's loader), as the signals reach the bench: no tsx parent in between to relay them.
  const child = execa(process.execPath, ['--import', 'tsx', script], { reject: false, cwd: REPO_ROOT });
  await new Promise<void>((resolve) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  for (let i = 0; i < times; i += 1) child.kill(signal);
  const result = await child;
  return { exitCode: result.exitCode, stopped: await readFile(out, 'utf8'), stderr: String(result.stderr) };
}

describe('bench interrupt handling', () => {
  it('SIGINT stops what is registered, newest first, then exits 130', async () => {
    const result = await interrupt('SIGINT');
    expect(result.exitCode).toBe(130);
    expect(result.stopped).toBe('moto\ncloud\n');
    expect(result.stderr).toContain('interrupted: could not stop moto: already gone');
    expect(result.stderr).toContain('interrupted: stopping the cloud');
  });

  it('takes a SIGINT delivered twice at once (the terminal and tsx relaying it) as one', async () => {
    const result = await interrupt('SIGINT', 2);
    expect(result.exitCode).toBe(130);
    expect(result.stopped).toBe('moto\ncloud\n');
    expect(result.stderr).not.toContain('exiting without stopping the rest');
  });

  it('SIGTERM does the same and exits 143', async () => {
    const result = await interrupt('SIGTERM');
    expect(result.exitCode).toBe(143);
    expect(result.stopped).toBe('moto\ncloud\n');
  });
}, 60_000);
