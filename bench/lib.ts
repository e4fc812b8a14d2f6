import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';

/** Small helpers shared by the benchmarks: timing, memory sampling and the result table. */

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/** Peak resident memory while `fn` runs, sampled every 10 ms (after a GC when exposed). */
export async function peakRss<T>(fn: () => Promise<T>): Promise<{ peakMiB: number; value: T }> {
  (globalThis as { gc?: () => void }).gc?.();
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { peakMiB: peak / 1048576, value };
  } finally {
    clearInterval(timer);
  }
}

/** `--name N` from the command line: an integer within min..max, or `fallback` when absent. */
export function intArg(name: string, fallback: number, min: number, max: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`--${name} must be an integer ${min}..${max}`);
  return value;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Measured {
  measure: string;
  baseline: string;
  ours: string;
  ratio: number;
}

/**
 * One result. A row with a target carries its verdict; a row without one (reported for
 * context) carries neither, and prints no verdict: "met" without a target would claim a
 * judgement nobody made.
 */
export type Row = Measured & ({ target: string; met: boolean } | { target?: undefined; met?: undefined });

/** Prints the rows; benchmarks report, they do not fail a build (tests assert behaviour). */
export function report(title: string, rows: Row[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ benchmark: title, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`\n${title}\n`);
  for (const r of rows) {
    const verdict = r.target === undefined ? 'reported' : `target ${r.target.padEnd(10)} ${r.met ? 'met' : 'NOT MET'}`;
    process.stdout.write(
      `  ${r.measure.padEnd(40)} baseline ${r.baseline.padEnd(16)} ours ${r.ours.padEnd(16)} ratio ${r.ratio.toFixed(2).padStart(6)}  ${verdict}\n`,
    );
  }
}

/** The machine's load while a benchmark ran: 1-minute load averages at its start and end, and the cores. */
export function loadNote(start: number): string {
  return `load average ${start.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end, on ${availableParallelism()} cores`;
}

/**
 * This process's peak resident memory in MiB: the kernel's high-water mark of its own memory
 * (`VmHWM`). Not `process.resourceUsage().maxRSS`: Linux carries `ru_maxrss` across `execve`,
 * so a child started from a large parent (a benchmark holding images) reports the parent's
 * size at the fork when its own peak is lower.
 */
export function peakResidentMiB(): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (kib === undefined) throw new Error('no VmHWM in /proc/self/status');
  return Number(kib) / 1024;
}
