import type { RepositoryName } from '@enigm-ota/client-sdk';
import { Metadata, Root } from '@tufjs/models';

import { InputError } from '../common/errors';
import type { Config } from '../infra/config';
import type { Hsm } from '../infra/hsm';
import type { Storage } from '../infra/storage';
import {
  MAX_KEYS_PER_ROLE,
  newHsmKey,
  newOfflineKey,
  offlineDir,
  openRepository,
  rootExpiry,
  saveTrustedRoot,
} from './ceremony';
import { HsmKeys, type KeySource, OfflineKeys, shortKeyId, signersFor, TUF_ROLES, type TufRole } from './keyring';
import { LAYOUT_FIELD, layoutOf, PARTITIONED_LAYOUT } from './layout';
import { withoutKey, withThreshold } from './rootChain';
import { signMetadata, type TufSigner } from './tufKeys';
import type { VersionFloor } from './versionFloor';

/** What `ota keys` can change in a repository's root. */
export type KeyChange =
  | { kind: 'add'; role: TufRole }
  | { kind: 'revoke'; role: TufRole; keyID: string }
  | { kind: 'threshold'; role: TufRole; threshold: number }
  | { kind: 'rotate'; role: TufRole }
  /** The move to one file set per channel and hardware (trust/layout.ts): the root announces it. */
  | { kind: 'partition'; role: 'root' };

export interface KeyChangeResult {
  repository: RepositoryName;
  rootVersion: number;
  role: TufRole;
  threshold: number;
  keyIDs: string[];
  added: string[];
  removed: string[];
  /** New offline root keys: move them to offline storage. */
  offlineKeyFiles: string[];
  /** A move to partitions: the partitions written (`channel/hardwareId`). */
  partitions?: string[];
}

export interface KeyContext {
  config: Config;
  hsm: Hsm;
  storage: Storage;
  /** Offline root key files the operator brought; the ceremony folder when absent. */
  rootKeyFiles?: string[];
  /** The servers' watermarks (trust/apiFloor.ts): storage is checked against them and what is published raises them. */
  floor?: VersionFloor;
}

/**
 * One key change as a new root version: checked first (nothing is created or published
 * for bad input or missing root keys), signed by a threshold of the current root keys and
 * of the next root's, every online role re-signed, then published and made the
 * provisioning root. Devices follow it from any older root.
 */
export async function changeKeys(ctx: KeyContext, repo: RepositoryName, change: KeyChange): Promise<KeyChangeResult> {
  // S-11: every check and the current root keys come before any key is made.
  checkRole(change.role);
  const repository = await openRepository(ctx.config, { storage: ctx.storage, repo, hsm: ctx.hsm, floor: ctx.floor });
  const current = await repository.currentRoot();
  const offline = ctx.rootKeyFiles?.length
    ? await OfflineKeys.load(ctx.rootKeyFiles)
    : await OfflineKeys.fromFolder(offlineDir(ctx.config));
  const currentRootSigners = signersFor(current.signed, { role: 'root', keys: offline });
  let next = Root.fromJSON({
    ...structuredClone(current.signed.toJSON()),
    version: current.signed.version + 1,
    expires: rootExpiry(ctx.config),
  });
  const offlineKeyFiles: string[] = [];
  const newKey = async () => {
    if (change.role !== 'root') return newHsmKey(ctx.hsm, repo, change.role);
    const made = await newOfflineKey(ctx.config, repo);
    offlineKeyFiles.push(made.file);
    return made.signer;
  };
  const edited = await applyChange(change, { current: current.signed, next, repo, newKey });
  const { fresh, revoked } = edited;
  next = edited.next;

  const md = new Metadata(next);
  const nextRootSigners = signersFor(next, { role: 'root', keys: merged(offline, fresh) });
  signMetadata(md, unique([...currentRootSigners, ...nextRootSigners]));
  const partitions = change.kind === 'partition' ? await repository.partitionUnder(md) : undefined;
  if (!partitions) await repository.changeRoot(md, revoked);
  await saveTrustedRoot(ctx.config, repo, md);
  return {
    repository: repo,
    rootVersion: next.version,
    role: change.role,
    threshold: next.roles[change.role]!.threshold,
    keyIDs: [...next.roles[change.role]!.keyIDs],
    added: fresh.map((s) => s.key.keyID),
    removed: [...edited.replaced, ...revoked],
    offlineKeyFiles,
    ...(partitions ? { partitions } : {}),
  };
}

/**
 * The next root with one change applied, after its checks: the keys it adds (made only now)
 * and revokes, and those a rotation replaces. Only the root is edited; nothing is published.
 */
async function applyChange(
  change: KeyChange,
  edit: { current: Root; next: Root; repo: RepositoryName; newKey: () => Promise<TufSigner> },
): Promise<{ next: Root; fresh: TufSigner[]; revoked: Set<string>; replaced: string[] }> {
  const { current, repo, newKey } = edit;
  let next = edit.next;
  const spec = current.roles[change.role]!;
  const revoked = new Set<string>();
  const fresh: TufSigner[] = [];
  const replaced: string[] = [];
  if (change.kind === 'add') {
    if (spec.keyIDs.length >= MAX_KEYS_PER_ROLE)
      throw new InputError(`${repo} ${change.role} already has ${MAX_KEYS_PER_ROLE} keys`);
    fresh.push(await newKey());
  } else if (change.kind === 'revoke') {
    const keyID = resolveKeyID(spec.keyIDs, change.keyID, `${repo} ${change.role}`);
    if (spec.keyIDs.length - 1 < spec.threshold) {
      throw new InputError(
        `revoking ${shortKeyId(keyID)} would leave ${spec.keyIDs.length - 1} ${change.role} keys, below the threshold ${spec.threshold}; add a key or lower the threshold first`,
      );
    }
    next = withoutKey(next, change.role, keyID);
    revoked.add(keyID);
  } else if (change.kind === 'threshold') {
    if (!Number.isInteger(change.threshold) || change.threshold < 1 || change.threshold > spec.keyIDs.length) {
      throw new InputError(
        `${repo} ${change.role} threshold must be 1..${spec.keyIDs.length} (the number of its keys)`,
      );
    }
    if (change.threshold === spec.threshold)
      throw new InputError(`${repo} ${change.role} threshold is already ${spec.threshold}`);
    next = withThreshold(next, change.role, change.threshold);
  } else if (change.kind === 'partition') {
    if (layoutOf(current) === 'partitioned') throw new InputError(`${repo} repository is already partitioned`);
    next = Root.fromJSON({ ...(next.toJSON() as object), [LAYOUT_FIELD]: PARTITIONED_LAYOUT });
  } else {
    // Rotation replaces every key of the role; the old keys still sign during the switch.
    for (const keyID of spec.keyIDs) {
      fresh.push(await newKey());
      next = withoutKey(next, change.role, keyID);
      replaced.push(keyID);
    }
  }
  for (const s of fresh) next.addKey(s.key, change.role);
  return { next, fresh, revoked, replaced };
}

/** Each role's keys and where their private halves are, for `ota keys list`. */
export async function listKeys(ctx: Omit<KeyContext, 'rootKeyFiles'>, repo: RepositoryName) {
  const current = await (await openRepository(ctx.config, { storage: ctx.storage, repo })).currentRoot();
  const hsm = new HsmKeys(ctx.hsm);
  const offline = await OfflineKeys.fromFolder(offlineDir(ctx.config));
  const roles = TUF_ROLES.map((role) => {
    const spec = current.signed.roles[role]!;
    const keys = spec.keyIDs.map((keyID) => ({
      keyID,
      location: hsm.signer(keyID) ? 'hsm' : offline.signer(keyID) ? 'offline file' : 'not here',
    }));
    return { role, threshold: spec.threshold, keys };
  });
  return { repository: repo, rootVersion: current.signed.version, expires: current.signed.expires, roles };
}

function checkRole(role: string): asserts role is TufRole {
  if (!(TUF_ROLES as readonly string[]).includes(role))
    throw new InputError(`role must be one of ${TUF_ROLES.join(', ')}`);
}

/** A key id or an unambiguous prefix of at least 8 hex digits, as `ota keys list` prints. */
function resolveKeyID(keyIDs: string[], given: string, where: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(given)) throw new InputError('a key id is 8 to 64 lowercase hex digits');
  const found = keyIDs.filter((id) => id.startsWith(given));
  if (found.length !== 1)
    throw new InputError(found.length ? `${given} matches several ${where} keys` : `${where} has no key ${given}`);
  return found[0]!;
}

function merged(base: KeySource, extra: TufSigner[]): KeySource {
  return { signer: (id) => extra.find((s) => s.key.keyID === id) ?? base.signer(id) };
}

function unique(signers: TufSigner[]): TufSigner[] {
  return [...new Map(signers.map((s) => [s.key.keyID, s])).values()];
}
