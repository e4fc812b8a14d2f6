import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * The stack tiers' lanes for scripts/test.sh, balanced by time: each integration file, and the
 * postgres tier as one piece, goes to the lane with the least work so far, longest first, by
 * the seconds test/tiers/times.json holds (measured by earlier runs; a file it does not know
 * counts as UNKNOWN_SECONDS). A balanced split matters because the suite takes as long as
 * its slowest lane.
 *
 *   testLanes plan N DIR PG  writes DIR/lane-I.json (mocha configs) and prints "I CONFIG POSTGRES SECONDS"
 *                            per lane; PG is "postgres" when the postgres tier runs too, else "-"
 *   testLanes times OUT F... merges per-file times (F: JSON from test/integration/fileTimes.ts;
 *                            a name ending in postgres.json is the postgres tier's) into OUT
 */
/** This file runs as dist/scripts/testLanes.js. */
const REPO_ROOT = resolve(__dirname, '..', '..');
const TIMES = join(REPO_ROOT, 'test', 'tiers', 'times.json');
const POSTGRES = 'postgres tier';
const UNKNOWN_SECONDS = 15;
const INTEGRATION = join(REPO_ROOT, 'dist', 'test', 'integration');

function specFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'postgres' ? [] : specFiles(path);
    return e.name.endsWith('.test.js') ? [relative(REPO_ROOT, path)] : [];
  });
}

function readTimes(): Record<string, number> {
  return existsSync(TIMES) ? (JSON.parse(readFileSync(TIMES, 'utf8')) as Record<string, number>) : {};
}

function plan(lanes: number, { dir, postgres }: { dir: string; postgres: boolean }): void {
  const times = readTimes();
  const pieces = [...specFiles(INTEGRATION), ...(postgres ? [POSTGRES] : [])]
    .map((name) => ({ name, seconds: times[name] ?? UNKNOWN_SECONDS }))
    .sort((a, b) => b.seconds - a.seconds || a.name.localeCompare(b.name));
  const load = Array.from({ length: lanes }, () => ({ seconds: 0, files: [] as string[], postgres: false }));
  for (const piece of pieces) {
    const lane = load.reduce((min, l) => (l.seconds < min.seconds ? l : min));
    lane.seconds += piece.seconds;
    if (piece.name === POSTGRES) lane.postgres = true;
    else lane.files.push(piece.name);
  }
  for (const [i, lane] of load.entries()) {
    const config = join(dir, `lane-${i + 1}.json`);
    const mocha = {
      spec: lane.files.sort(),
      require: ['dist/test/integration/setup.js'],
      timeout: 180000,
      reporter: 'spec',
    };
    writeFileSync(config, JSON.stringify(mocha, null, 2) + '\n');
    console.log(`${i + 1} ${lane.files.length > 0 ? config : '-'} ${lane.postgres ? 'postgres' : '-'} ${lane.seconds}`);
  }
}

function merge(out: string, parts: string[]): void {
  const merged: Record<string, number> = {};
  for (const part of parts.filter(existsSync)) {
    const times = JSON.parse(readFileSync(part, 'utf8')) as Record<string, number>;
    if (part.endsWith('postgres.json')) merged[POSTGRES] = Object.values(times).reduce((a, b) => a + b, 0);
    else Object.assign(merged, times);
  }
  const sorted = Object.entries(merged).sort((a, b) => b[1] - a[1]);
  writeFileSync(out, JSON.stringify(Object.fromEntries(sorted), null, 2) + '\n');
  for (const [name, seconds] of sorted.slice(0, 8)) console.log(`  ${String(seconds).padStart(4)} s  ${name}`);
}

const [command, ...args] = process.argv.slice(2);
if (command === 'plan' && args.length === 3) plan(Number(args[0]), { dir: args[1]!, postgres: args[2] === 'postgres' });
else if (command === 'times' && args.length >= 1) merge(args[0]!, args.slice(1));
else {
  console.error('usage: testLanes plan N DIR postgres|- | testLanes times OUT FILE...');
  process.exitCode = 2;
}
