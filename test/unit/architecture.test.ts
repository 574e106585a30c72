/**
 * The layout's rules (docs/architecture.md), checked on the source so they
 * cannot quietly erode: only the boundary touches the process, nothing below
 * the commands imports them, and nothing prints around the reporter.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

async function sourceFiles(dir = SRC): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(entries.map((entry) => (entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)])));
  return files.flat().filter((file) => file.endsWith('.ts'));
}

/** The code of a file without its comments, so prose mentioning `process.env` does not count. */
async function code(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

describe('the layout', () => {
  it('lets only cli.ts and run.ts touch process.* or print with console', async () => {
    const offenders: string[] = [];
    for (const file of await sourceFiles()) {
      const name = relative(SRC, file);
      if (name === 'cli.ts' || name === 'run.ts') continue;
      if (/\bprocess\.|\bconsole\./.test(await code(file))) offenders.push(name);
    }
    expect(offenders).toEqual([]);
  });

  it('lets nothing outside src/commands import from it, except run.ts dispatching the commands', async () => {
    const offenders: string[] = [];
    for (const file of await sourceFiles()) {
      const name = relative(SRC, file);
      if (name.startsWith('commands/') || name === 'run.ts') continue;
      if (/from '\.\.?\/(?:\.\.\/)*commands\//.test(await code(file))) offenders.push(name);
    }
    expect(offenders).toEqual([]);
  });

  it('keeps the resource modules free of the commands and of the Context', async () => {
    const resources = ['security.ts', 'image.ts', 'database.ts', 'broker.ts', 'hosts.ts', 'autoscaling.ts'];
    for (const name of resources) {
      const text = await code(join(SRC, name));
      expect(text, name).not.toMatch(/from '\.\/commands\//);
      expect(text, name).not.toMatch(/from '\.\/context\.js'/);
    }
  });
});
