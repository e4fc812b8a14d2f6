import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { build } from 'esbuild';

/**
 * Bundles the dashboard (web/) with its charting library into dist/web at build time, so the
 * API serves three files from its own origin and the browser loads nothing from elsewhere.
 * Type checking is `tsc -p web` (DOM types); esbuild only bundles and minifies.
 */
/** dist/scripts -> the repository. */
const REPO_ROOT_DIR = join(__dirname, '..', '..');

async function main(): Promise<void> {
  const web = join(REPO_ROOT_DIR, 'web');
  const out = join(REPO_ROOT_DIR, 'dist', 'web');
  await mkdir(out, { recursive: true });
  const result = await build({
    entryPoints: [join(web, 'main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome120', 'firefox120', 'safari17'],
    metafile: true,
    logLevel: 'warning',
  });
  await copyFile(join(web, 'index.html'), join(out, 'index.html'));
  await copyFile(join(web, 'app.css'), join(out, 'app.css'));
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`dashboard: dist/web (${Math.round(bytes / 1024)} KiB)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
