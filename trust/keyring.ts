import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Root } from '@tufjs/models';

import { InputError, ServerError } from '../common/errors';
import type { Hsm } from '../infra/hsm';
import { ed25519Signer, OfflineSigner, type TufSigner } from './tufKeys';

export type TufRole = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const TUF_ROLES: readonly TufRole[] = ['root', 'targets', 'snapshot', 'timestamp'];
/** Roles whose keys live in the HSM; root keys are offline files. */
export const ONLINE_ROLES: readonly Exclude<TufRole, 'root'>[] = ['targets', 'snapshot', 'timestamp'];

/** Where private keys are: the root only says which key ids a role trusts. */
export interface KeySource {
  signer(keyID: string): TufSigner | undefined;
}

/** The HSM's keys by key id; the token is read again when a key id is not known yet. */
export class HsmKeys implements KeySource {
  private byId = new Map<string, TufSigner>();
  constructor(private readonly hsm: Hsm) {}

  signer(keyID: string): TufSigner | undefined {
    if (!this.byId.has(keyID))
      this.byId = new Map(
        this.hsm
          .keyPairs()
          .map(ed25519Signer)
          .map((s) => [s.key.keyID, s]),
      );
    return this.byId.get(keyID);
  }
}

/** Offline root keys, read from files the operator brings (the ceremony folder by default). */
export class OfflineKeys implements KeySource {
  private constructor(private readonly byId: Map<string, OfflineSigner>) {}

  static async load(files: string[]): Promise<OfflineKeys> {
    const byId = new Map<string, OfflineSigner>();
    for (const file of files) {
      let signer: OfflineSigner;
      try {
        signer = OfflineSigner.fromHex((await readFile(file, 'utf8')).trim());
      } catch (err) {
        throw new InputError(`${file} is not an offline key file: ${(err as Error).message}`);
      }
      byId.set(signer.key.keyID, signer);
    }
    return new OfflineKeys(byId);
  }

  /** Every `*.key` file in a folder. */
  static async fromFolder(dir: string): Promise<OfflineKeys> {
    if (!existsSync(dir)) return new OfflineKeys(new Map());
    const files = (await readdir(dir)).filter((f) => f.endsWith('.key')).map((f) => join(dir, f));
    return OfflineKeys.load(files);
  }

  signer(keyID: string): OfflineSigner | undefined {
    return this.byId.get(keyID);
  }
}

/**
 * The keys that sign `role` under `root`: every listed key whose private half is at hand.
 * Fewer than the threshold fails closed, so nothing is ever published that devices reject.
 */
export function signersFor(
  root: Root,
  { role, keys, except = new Set() }: { role: TufRole; keys: KeySource; except?: ReadonlySet<string> },
): TufSigner[] {
  // S-9
  const spec = root.roles[role];
  if (!spec) throw new ServerError('CONFIG_INVALID', `root version ${root.version} has no ${role} role`);
  const found = spec.keyIDs.filter((id) => !except.has(id)).flatMap((id) => keys.signer(id) ?? []);
  if (found.length < spec.threshold) {
    throw new ServerError(
      'SIGNING_KEYS_MISSING',
      `${role} needs ${spec.threshold} of its keys [${spec.keyIDs.map(shortKeyId).join(', ')}] but only ${found.length} are available`,
    );
  }
  return found;
}

export function shortKeyId(keyID: string): string {
  return keyID.slice(0, 12);
}
