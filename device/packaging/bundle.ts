import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';

import { build, type Plugin } from 'esbuild';

/**
 * Bundles device code (an entry compiled by `tsc -b`, e.g. dist/device/agent/main.js, or the
 * SDK's client-sdk/dist/index.js) with its dependencies into one CommonJS file for Node 24:
 * one file to parse instead of a tree of modules, which is what a device keeps resident. Node's
 * own modules stay outside; no dependency of the SDK needs a native addon or files of its own.
 *
 * The agent program's packaging (the single executable, the Debian package) bundles the agent
 * with it (`bundleAgent`); `bench/agent.ts` bundles its device side with it.
 */

/** dist/device/packaging -> the repository. */
const REPO_ROOT_DIR = join(__dirname, '..', '..', '..');

/**
 * tuf-js logs through `debug`, which prints only when DEBUG names it and loads tty and
 * colour detection either way (about 1 MiB resident): on a device it is a logger that never logs.
 */
const silentDebug: Plugin = {
  name: 'silent-debug',
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, () => ({ path: 'debug', namespace: 'silent-debug' }));
    b.onLoad({ filter: /.*/, namespace: 'silent-debug' }, () => ({
      contents: 'const off = () => Object.assign(() => {}, { enabled: false, extend: off }); module.exports = off;',
      loader: 'js',
    }));
  },
};

export interface DeviceBundle {
  /** The bundle's path and size. */
  file: string;
  bytes: number;
  /** Bytes in the bundle per package (`src` for the project's own code), largest first. */
  byPackage: Array<[name: string, bytes: number]>;
}

export async function bundleDevice({ entry, outfile }: { entry: string; outfile: string }): Promise<DeviceBundle> {
  const resolve = (p: string) => (isAbsolute(p) ? p : join(REPO_ROOT_DIR, p));
  const file = resolve(outfile);
  await mkdir(dirname(file), { recursive: true });
  const result = await build({
    entryPoints: [resolve(entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // Whitespace and syntax only: names stay, so a device's stack traces still read.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'external',
    metafile: true,
    logLevel: 'warning',
    plugins: [silentDebug],
  });
  const output = result.metafile.outputs[relative(process.cwd(), file)] ?? Object.values(result.metafile.outputs)[0]!;
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? 'src';
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  return { file, bytes: output.bytes, byPackage: [...byPackage].sort((a, b) => b[1] - a[1]) };
}

/** The agent, the SDK and its libraries in one file: what the single executable runs, and what tests start. */
export async function bundleAgent(outfile: string): Promise<string> {
  return (await bundleDevice({ entry: join(REPO_ROOT_DIR, 'device', 'agent', 'main.ts'), outfile })).file;
}
