#!/usr/bin/env node
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Updater } from 'tuf-js';

import { defaultLimits, updaterConfig } from '../limits';
import { toOtaError } from '../tufErrors';

/**
 * The client protocol of the public TUF conformance suite (tuf-conformance CLIENT-CLI.md),
 * on the SDK's own tuf-js configuration and length caps:
 *   --metadata-dir DIR init TRUSTED_ROOT
 *   --metadata-dir DIR --metadata-url URL refresh
 *   --metadata-dir DIR --metadata-url URL --target-name NAME [...] --target-base-url URL --target-dir DIR download
 * Exit 0 on success, 1 on any failure. Metadata is stored unversioned (root.json).
 */
export async function conformance(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'metadata-dir': { type: 'string' },
      'metadata-url': { type: 'string' },
      'target-name': { type: 'string', multiple: true },
      'target-base-url': { type: 'string' },
      'target-dir': { type: 'string' },
    },
  });
  const dir = values['metadata-dir'];
  const [command, arg] = positionals;
  if (!dir) throw new Error('--metadata-dir is required');
  if (command === 'init') {
    if (!arg) throw new Error('init needs TRUSTED_ROOT');
    mkdirSync(dir, { recursive: true });
    copyFileSync(arg, join(dir, 'root.json'));
    return 0;
  }
  const metadataBaseUrl = values['metadata-url'];
  if (!metadataBaseUrl) throw new Error('--metadata-url is required');
  const updater = new Updater({
    metadataDir: dir,
    metadataBaseUrl,
    targetBaseUrl: values['target-base-url'],
    targetDir: values['target-dir'],
    config: updaterConfig(defaultLimits),
  });
  if (command === 'refresh') {
    await updater.refresh();
    return 0;
  }
  if (command === 'download') {
    if (!values['target-base-url'] || !values['target-dir'])
      throw new Error('download needs --target-base-url and --target-dir');
    mkdirSync(values['target-dir'], { recursive: true });
    // One updater, targets in the order given; a cached, verified copy is reused.
    for (const name of values['target-name'] ?? []) {
      const info = await updater.getTargetInfo(name);
      if (!info) throw new Error(`target ${name} not found`);
      if (!(await updater.findCachedTarget(info))) await updater.downloadTarget(info);
    }
    return 0;
  }
  throw new Error(`unknown command ${command ?? ''}`);
}

if (require.main === module) {
  conformance(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = toOtaError('conformance', err);
      process.stderr.write(`${e.code}: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
