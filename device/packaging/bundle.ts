import { join } from 'node:path';

import { build } from 'esbuild';

/** dist/device/packaging -> the repository. */
const REPO = join(__dirname, '..', '..', '..');

/**
 * The agent, the SDK and its libraries in one minified CommonJS file for Node 24 (Node's
 * built-ins stay outside): what the single executable runs, and what tests start.
 */
export async function bundleAgent(outfile: string): Promise<string> {
  await build({
    entryPoints: [join(REPO, 'device', 'agent', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  return outfile;
}
