import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatDuration, TerminalReporter } from '../../src/reporter.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

describe('TerminalReporter without a terminal', () => {
  it('prints one timestamped line per event and the elapsed time of each step', async () => {
    const out = capture();
    let now = Date.parse('2026-11-25T10:00:00Z');
    const reporter = new TerminalReporter({ stream: out.stream, interactive: false, verbose: false, now: () => now });
    await reporter.step('create database', async (step) => {
      step.note('creating');
      now += 65_000;
    });
    await reporter.step('find image', async (step) => step.skip('exists'));
    reporter.close();
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      '2026-11-25T10:00:00Z ▸ create database',
      '2026-11-25T10:00:00Z   create database: creating (0.0s)',
      '2026-11-25T10:01:05Z ✓ create database (1m05s)',
      '2026-11-25T10:01:05Z ▸ find image',
      '2026-11-25T10:01:05Z – find image: exists',
    ]);
  });

  it('marks a failed step and rethrows its error', async () => {
    const out = capture();
    const reporter = new TerminalReporter({ stream: out.stream, interactive: false, verbose: false });
    await expect(reporter.step('bake image', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    reporter.close();
    expect(out.text()).toMatch(/✗ bake image \(failed after \d+\.\ds\)/);
  });

  it('writes everything, verbose detail included, to the log and masks secrets everywhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-log-'));
    const logFile = join(dir, 'logs', 'argos-staging.log');
    const out = capture();
    const reporter = new TerminalReporter({ stream: out.stream, interactive: false, verbose: false, logFile, secrets: ['hunter2-secret'] });
    reporter.info('connecting with hunter2-secret');
    reporter.detail('ansible says hello');
    reporter.close();
    const log = await readFile(logFile, 'utf8');
    expect(log).toContain('connecting with ***');
    expect(log).toContain('ansible says hello');
    expect(out.text()).not.toContain('ansible says hello');
    expect(out.text() + log).not.toContain('hunter2-secret');
  });
});

describe('TerminalReporter as the I/O host', () => {
  it('writes a result as is (no timestamp) and keeps it in the log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-log-'));
    const logFile = join(dir, 'argos-staging.log');
    const out = capture();
    const reporter = new TerminalReporter({ stream: out.stream, interactive: false, verbose: false, logFile });
    reporter.result('{\n  "env": "staging"\n}');
    reporter.close();
    expect(out.text()).toBe('{\n  "env": "staging"\n}\n');
    expect(await readFile(logFile, 'utf8')).toContain('"env": "staging"');
  });

  it('asks on a terminal and resolves the answer typed', async () => {
    const out = capture();
    const input = new PassThrough();
    const reporter = new TerminalReporter({ stream: out.stream, input, canAsk: true, interactive: false, verbose: false });
    setTimeout(() => input.write('aye\n'), 5);
    await expect(reporter.ask('Are you sure? (y/n)', new AbortController().signal)).resolves.toBe('aye');
    reporter.close();
    expect(out.text()).toContain('Are you sure? (y/n) ');
  });

  it('asks nothing when no one can answer', async () => {
    const out = capture();
    const reporter = new TerminalReporter({ stream: out.stream, input: new PassThrough(), canAsk: false, interactive: false, verbose: false });
    await expect(reporter.ask('Are you sure? (y/n)', new AbortController().signal)).resolves.toBeUndefined();
    reporter.close();
    expect(out.text()).toBe('');
  });

  it('turns an abort while asking into INTERRUPTED', async () => {
    const out = capture();
    const controller = new AbortController();
    const reporter = new TerminalReporter({ stream: out.stream, input: new PassThrough(), canAsk: true, interactive: false, verbose: false });
    setTimeout(() => controller.abort(), 5);
    await expect(reporter.ask('Are you sure? (y/n)', controller.signal)).rejects.toMatchObject({ code: 'INTERRUPTED' });
    reporter.close();
  });
});

describe('formatDuration', () => {
  it.each([
    [3_200, '3.2s'],
    [245_000, '4m05s'],
    [3_720_000, '1h02m'],
  ])('%d ms -> %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('TerminalReporter on a terminal', () => {
  it('shows planned steps as pending, then running with a spinner, then done', async () => {
    const out = capture();
    Object.assign(out.stream, { isTTY: true, columns: 100, rows: 40 });
    const reporter = new TerminalReporter({ stream: out.stream, interactive: true, verbose: false });
    reporter.plan(['security groups', 'database argos-staging-database']);
    expect(out.text()).toContain('○ security groups (pending)');
    expect(out.text()).toContain('○ database argos-staging-database (pending)');
    await reporter.step('security groups', async () => {
      expect(out.text()).toMatch(/⠋ security groups \(0\.\ds\)/);
    });
    reporter.close();
    expect(out.text()).toMatch(/✓ security groups \(\d+\.\ds\)/);
  });
});
