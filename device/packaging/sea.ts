import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The agent's Node runtime settings, built into its single executable (the SEA configuration's
 * `execArgv`), so every start of it (the systemd service, `check-now` from a shell, a test)
 * runs with them and no unit or wrapper can forget them. Why each:
 * docs/adr/0071-delta-apply-streams-base-and-output.md.
 *  - a 32 MiB old generation: what survives on a device is the SDK's code and a few metadata
 *    files (each read within the SDK's size limits). A download's 16 KiB TLS records are
 *    freed only when the heap holding their handles is collected; a small heap is collected
 *    often, so fewer dead records wait (1 GiB image: 85 MiB peak against 107 MiB);
 *  - young generation semi-spaces of 4 MiB (V8's default grows them to 16 MiB): the same
 *    peak as 1 MiB, which scavenged so often the download slowed by a fifth;
 *  - `gc()` exposed: the agent collects its garbage once per cycle, before it sleeps
 *    (`DeviceAgent.rest`), instead of leaving what the cycle dropped resident until V8's idle
 *    reducer gets to it;
 *  - one V8 worker thread (Node's default is four): an agent has little to compile or mark
 *    in the background, and each thread keeps memory of its own (0.7 MiB less at rest);
 *  - V8's `--optimize-for-size`, which favours memory over speed where V8 has the choice: 2 MiB
 *    less at rest and 4-5 MiB less at the install peaks, with the same install times on the
 *    1 GiB benchmark (the hashing, TLS and zstd work is native; the delta's add loop still
 *    gets optimized).
 */
export const AGENT_EXEC_ARGV: readonly string[] = [
  '--max-semi-space-size=4',
  '--max-old-space-size=32',
  '--expose-gc',
  '--v8-pool-size=1',
  '--optimize-for-size',
];

/** The fuse Node's SEA loader looks for (node's documentation on single executable applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** postject, a pinned devDependency: the build runs what package-lock.json names, fetched by npm ci, not at build time. */
const POSTJECT_CLI = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');

/**
 * `bundle` (one CommonJS file, device/packaging/bundle.ts) injected into a copy of this node
 * binary as `<dir>/<name>`, started with AGENT_EXEC_ARGV. NODE_OPTIONS is ignored: a device's
 * environment does not change the agent's runtime.
 */
export function singleExecutable({ bundle, dir, name }: { bundle: string; dir: string; name: string }): string {
  mkdirSync(dir, { recursive: true });
  const blob = join(dir, `${name}.blob`);
  const seaConfig = join(dir, `${name}.sea-config.json`);
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: true,
      execArgv: AGENT_EXEC_ARGV,
      execArgvExtension: 'none',
    }),
  );
  // The code cache is made under the settings it runs with and no others (NODE_OPTIONS left
  // out): V8 rejects one made under other flags, with a warning on every start.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  execFileSync(process.execPath, [...AGENT_EXEC_ARGV, '--experimental-sea-config', seaConfig], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  const exe = join(dir, name);
  rmSync(exe, { force: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  execFileSync(process.execPath, [POSTJECT_CLI, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(blob, { force: true });
  return exe;
}
