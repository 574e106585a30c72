/**
 * What the benchmarks ran on: CPU, memory, OS, Node, ansible-core and moto
 * versions, the load at the start, and the date. Figures are only comparable
 * side by side on the same machine in the same run.
 */
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { execa } from 'execa';

/** The machine a benchmark run ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  ansibleCore: string;
  moto: string;
  /** 1-minute load average when the run started (others may share the machine). */
  loadAtStart: number;
  date: string;
}

/** The first line of a command's output, or "not found". */
async function firstLine(command: string, args: string[], pattern?: RegExp): Promise<string> {
  const result = await execa(command, args, { reject: false, timeout: 30_000 });
  const text = `${result.stdout}\n${result.stderr}`;
  const line = pattern ? (pattern.exec(text)?.[1] ?? '') : (text.trim().split('\n')[0] ?? '');
  return result.exitCode === 0 && line ? line.trim() : 'not found';
}

/** The OS's PRETTY_NAME and the kernel release. */
async function osName(): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? process.platform;
  return `${pretty}, Linux ${release()}`;
}

/** Describes this machine. */
export async function describeMachine(): Promise<Machine> {
  const processors = cpus();
  return {
    cpu: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: await osName(),
    node: process.version,
    ansibleCore: await firstLine('ansible-playbook', ['--version'], /core ([\d.]+)/),
    moto: await firstLine('python3', ['-c', 'import moto; print(moto.__version__)']),
    loadAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
  };
}
