import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';

import { REPO_ROOT } from '../paths';

/**
 * Wall time per spec file, for balancing the test lanes (scripts/testLanes.ts): each test's
 * run is charged to its file, and so is the time before it since the last test ended, so a
 * file's `before` hooks (stack restarts, releases it sets up) count as its own. Written when
 * the run ends to the file OTA_TEST_TIMES names, if any.
 */
const seconds = new Map<string, number>();
let last = Date.now();
let lastFile: string | undefined;

/** Charges the time since the last mark to `file`'s test: call as a test starts and as it ends. */
export function chargeTest(file: string | undefined): void {
  if (!file) return;
  const now = Date.now();
  const key = relative(REPO_ROOT, file);
  seconds.set(key, (seconds.get(key) ?? 0) + (now - last) / 1000);
  last = now;
  lastFile = key;
}

export function runEnded(): void {
  const out = process.env['OTA_TEST_TIMES'];
  if (lastFile) seconds.set(lastFile, (seconds.get(lastFile) ?? 0) + (Date.now() - last) / 1000);
  if (!out) return;
  const rounded = Object.fromEntries([...seconds].map(([file, s]) => [file, Math.round(s)]));
  writeFileSync(out, JSON.stringify(rounded, null, 2) + '\n');
}
