import { readFileSync } from 'node:fs';

import { ServerError } from '../common/errors';
import { checkPolicy, DEFAULT_POLICY, type PolicyFile } from '../common/rolloutPolicy';

const MAX_POLICY_BYTES = 256 * 1024;

/** The deployment's policy: OTA_POLICY_FILE (JSON) if set, else the built-in defaults. Read by infra/config.ts. */
export function readPolicyFile(file: string | undefined): PolicyFile {
  if (!file) return DEFAULT_POLICY;
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > MAX_POLICY_BYTES) throw new Error(`larger than ${MAX_POLICY_BYTES} bytes`);
    return checkPolicy(JSON.parse(text) as PolicyFile);
  } catch (err) {
    throw new ServerError(
      'CONFIG_INVALID',
      `OTA_POLICY_FILE ${file}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
