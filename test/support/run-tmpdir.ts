/**
 * Vitest global set-up of both projects: every temporary directory a test makes
 * (`mkdtemp(join(tmpdir(), …))`: projects, traces, chroot state) goes under one
 * directory of this run, removed when the run ends, so no test run leaves its
 * projects in /tmp whatever a test forgot or a failure skipped. The workers
 * start after this set-up and inherit its TMPDIR; os.tmpdir() reads it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';

/** Mount points at or under `dir`, from this process's mount table (octal escapes decoded). */
export function listMountsUnder(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(dir + sep));
}

/** Set while a run's directory exists: both projects list this set-up, and the first one makes it. */
const MARK = 'ARGOS_RUN_TMPDIR';

export default function setup(): (() => void) | undefined {
  if (process.env[MARK]) return undefined;
  const previous = process.env['TMPDIR'];
  const dir = mkdtempSync(join(tmpdir(), 'argos-vitest-'));
  process.env['TMPDIR'] = dir;
  process.env[MARK] = dir;
  return () => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
    delete process.env[MARK];
    // A recursive removal crosses mount points: a chroot's bind mount of /dev or /proc left by a
    // failed test would be emptied through it. Keep the directory then, and say so.
    const mounts = listMountsUnder(dir);
    if (mounts.length > 0) {
      process.stderr.write(`run-tmpdir: kept ${dir}: still mounted under it: ${mounts.join(', ')}\n`);
      return;
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
