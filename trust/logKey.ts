import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { ED25519, formatVerifierKey } from '@enigm-ota/client-sdk/transparency';

import { ServerError } from '../common/errors';
import type { Config } from '../infra/config';
import type { Hsm } from '../infra/hsm';

/** The label of the transparency log's checkpoint key in the signing token. */
export const LOG_KEY_LABEL = 'transparency-log';

/**
 * Key ceremony for the transparency log (ADR 0078): its Ed25519 key is made in the HSM once,
 * and its verifier key (`<origin>+<hash>+<key>`, what devices, witnesses and auditors pin)
 * written to the configured file. A file that names another key is an error, never rewritten.
 */
export async function ensureLogKey(hsm: Hsm, t: NonNullable<Config['transparency']>): Promise<string> {
  const vkey = formatVerifierKey(t.origin, ED25519, hsm.generate(LOG_KEY_LABEL).publicKey);
  if (existsSync(t.keyFile)) {
    const kept = (await readFile(t.keyFile, 'utf8')).trim();
    if (kept !== vkey)
      throw new ServerError('CONFIG_INVALID', `${t.keyFile} names another log key than the token's "${LOG_KEY_LABEL}"`);
    return vkey;
  }
  await mkdir(dirname(t.keyFile), { recursive: true });
  await writeFile(t.keyFile, `${vkey}\n`);
  return vkey;
}
