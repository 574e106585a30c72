/**
 * `--batch` of deploy: how many app servers a rolling deploy updates at a
 * time. Its own module because command-options.ts (loaded for `--help`)
 * parses it and must stay light.
 */

/** `--batch`: a number of app servers, or a percentage of them (rounded up, at least one). */
export type BatchSize = { count: number } | { percent: number };

/** One app server per batch: the default, the slowest and the safest. */
export const DEFAULT_BATCH: BatchSize = { count: 1 };

/** `--batch 2` → 2 hosts; `--batch 25%` → a quarter; anything else is an error saying what is expected. */
export function parseBatchSize(text: string, flag: string): { value: BatchSize } | { error: string } {
  const count = /^(\d+)$/.exec(text);
  if (count && Number(count[1]) >= 1) return { value: { count: Number(count[1]) } };
  const percent = /^(\d+)%$/.exec(text);
  if (percent && Number(percent[1]) >= 1 && Number(percent[1]) <= 100) return { value: { percent: Number(percent[1]) } };
  return { error: `${flag} must be a number of app servers (1 or more) or a percentage such as 25%, not '${text}'` };
}
