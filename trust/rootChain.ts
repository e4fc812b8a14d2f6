import { Metadata, MetadataKind, Root } from '@tufjs/models';

import { ServerError } from '../common/errors';
import { parseTufJson } from './tufJson';

/**
 * Spec 5.3: root N+1 is trusted only when signed by a threshold of root N's keys and a
 * threshold of its own, and numbered N+1. The server follows the chain exactly as devices
 * do, so a root in storage that devices would reject is never used to sign or verify.
 */
export function verifyRootStep(current: Metadata<Root>, next: Metadata<Root>): void {
  // S-10
  if (next.signed.version !== current.signed.version + 1) {
    throw new ServerError(
      'VALIDATION_FAILED',
      `root version ${next.signed.version} does not follow version ${current.signed.version}`,
    );
  }
  try {
    current.verifyDelegate('root', next);
    next.verifyDelegate('root', next);
  } catch (err) {
    throw new ServerError(
      'VALIDATION_FAILED',
      `root version ${next.signed.version} is not signed by both root thresholds`,
      { cause: err },
    );
  }
}

export function parseRoot(bytes: Buffer | string): Metadata<Root> {
  return Metadata.fromJSON(MetadataKind.Root, parseTufJson(bytes));
}

/** From a trusted root forward over every newer root `read` finds, verifying each step. */
export async function followRoots(
  trusted: Metadata<Root>,
  read: (version: number) => Promise<Buffer | undefined>,
): Promise<Metadata<Root>> {
  let current = trusted;
  for (;;) {
    const bytes = await read(current.signed.version + 1);
    if (!bytes) return current;
    let next: Metadata<Root>;
    try {
      next = parseRoot(bytes);
    } catch (err) {
      throw new ServerError('VALIDATION_FAILED', `root version ${current.signed.version + 1} is not valid metadata`, {
        cause: err,
      });
    }
    verifyRootStep(current, next);
    current = next;
  }
}

/** Root edits the key commands make (tuf-js models can add keys, not remove them or set thresholds). */
type RootJson = { roles: Record<string, { keyids: string[]; threshold: number }>; keys: Record<string, unknown> };

export function withThreshold(root: Root, role: string, threshold: number): Root {
  const json = structuredClone(root.toJSON()) as unknown as RootJson;
  json.roles[role]!.threshold = threshold;
  return Root.fromJSON(json as never);
}

export function withoutKey(root: Root, role: string, keyID: string): Root {
  const json = structuredClone(root.toJSON()) as unknown as RootJson;
  json.roles[role]!.keyids = json.roles[role]!.keyids.filter((id) => id !== keyID);
  // A key another role still lists stays in the key table.
  if (!Object.values(json.roles).some((r) => r.keyids.includes(keyID))) delete json.keys[keyID];
  return Root.fromJSON(json as never);
}
