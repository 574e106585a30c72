/**
 * Small statistics and timing helpers shared by the benchmark sections:
 * median and spread of repeated runs, ratios of medians, and wall-clock timing.
 */

/** Median and spread of several runs of one figure. */
export interface Summary {
  runs: number;
  median: number;
  min: number;
  max: number;
}

/** The median of `values` (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? 0) + upper) / 2;
}

/** Median, min and max of `values`. */
export function summarize(values: readonly number[]): Summary {
  return { runs: values.length, median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** `a.median / b.median`, rounded to 3 decimals. */
export function ratioOfMedians(a: Summary, b: Summary): number {
  return round(a.median / b.median, 3);
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Wall-clock milliseconds `run` takes. */
export async function timeMs(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

/** "123 ms (110–140)" or, with `unit: 's'`, "12.3 s (11.0–14.0)". */
export function formatSummary(summary: Summary, unit: 'ms' | 's' = 'ms'): string {
  const show = (ms: number) => (unit === 'ms' ? `${Math.round(ms)}` : (ms / 1000).toFixed(1));
  return `${show(summary.median)} ${unit} (${show(summary.min)}–${show(summary.max)})`;
}
