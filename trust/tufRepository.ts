import { createHash } from 'node:crypto';

import type { RepositoryName } from '@enigm-ota/client-sdk';
import { Metadata, MetadataKind, MetaFile, type Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

import { ServerError } from '../common/errors';
import type { Storage } from '../infra/storage';
import { type KeySource, ONLINE_ROLES, signersFor } from './keyring';
import { PARTITION_FIELD, partitionFolder } from './layout';
import { followRoots, verifyRootStep } from './rootChain';
import { parseTufJson } from './tufJson';
import { signMetadata, type TufSigner } from './tufKeys';
import type { RoleVersions, VersionFloor } from './versionFloor';

export const MAX_METADATA_BYTES = 8 * 1024 * 1024;
export const SPEC_VERSION = '1.0.31';

/** The keys that sign each online role: at least its threshold, all that are at hand. */
export interface RoleSigners {
  targets: TufSigner[];
  snapshot: TufSigner[];
  timestamp: TufSigner[];
}

export interface Expiry {
  targetsDays: number;
  snapshotDays: number;
  timestampHours: number;
}

/** The newest consistent state of a repository in storage. */
interface Head {
  timestamp: Metadata<Timestamp>;
  snapshotVersion: number;
  targetsVersion: number;
  targets: Metadata<Targets>;
}

export interface RoleExpiry {
  role: 'root' | 'targets' | 'snapshot' | 'timestamp';
  version: number;
  expires: string;
}

/** Signed targets waiting to be registered, built on a known head version. */
export interface StagedTargets {
  version: number;
  json: string;
}

/**
 * A TUF repository kept in object storage, with consistent snapshots so published
 * files never change: `N.root.json`, `N.targets.json`, `N.snapshot.json`, then
 * `timestamp.json` last. Versions are claimed with conditional writes (If-None-Match),
 * so concurrent releases never overwrite each other; a writer that crashed after
 * claiming a version leaves a file the next writer adopts and completes.
 */
export class TufRepository {
  /**
   * `trusted` is the provisioned root; newer roots in storage are followed and verified
   * step by step (as devices do). `keys` is where the online roles' private keys are;
   * without it the repository is read-only (the API).
   */
  constructor(
    readonly name: RepositoryName,
    private readonly storage: Storage,
    private root: Metadata<Root>,
    private readonly expiry: Expiry,
    private readonly keys?: KeySource,
    /** Where storage rollback is noticed (trust/versionFloor.ts); none: not checked (ceremony tools). */
    private readonly floor?: VersionFloor,
    /** One partition's file set (`channel/hardwareId`, trust/layout.ts); none: the flat one. */
    readonly partition?: string,
    /** How long the API answers devices from the timestamp it last checked (0: every request reads storage). */
    private readonly servedCacheMs = 0,
  ) {
    this.scope = partition ? partitionFolder(name, partition) : name;
  }

  /** The timestamp last served, checked against the floor (servedTimestamp). */
  private served: { at: number; bytes: Promise<Buffer> } | undefined;

  /** Drops the served timestamp: the rollout changed (a pause through any replica). */
  forgetServed(): void {
    this.served = undefined;
  }

  /** Where this file set lives in storage, and its name in watermarks and messages. */
  readonly scope: string;

  /** The newest root verified so far (no storage read). */
  get knownRoot(): Metadata<Root> {
    return this.root;
  }

  /** The newest root that verifies from the trusted one; `ota keys` publishes new ones. */
  async currentRoot(): Promise<Metadata<Root>> {
    this.root = await followRoots(this.root, (v) =>
      this.storage.getBytes('metadata', this.rootKey(v), MAX_METADATA_BYTES),
    );
    return this.root;
  }

  /** Signers for every online role under the current root (fails closed below a threshold). */
  async signers(): Promise<RoleSigners> {
    return this.signersUnder((await this.currentRoot()).signed);
  }

  private signersUnder(root: Root, except?: ReadonlySet<string>): RoleSigners {
    if (!this.keys) throw new ServerError('CONFIG_INVALID', `${this.name} repository was opened read-only`);
    const keys = this.keys;
    const [targets, snapshot, timestamp] = ONLINE_ROLES.map((role) => signersFor(root, role, keys, except));
    return { targets: targets!, snapshot: snapshot!, timestamp: timestamp! };
  }

  /**
   * A key change (\`ota keys\`), before the next root is published: every online role is
   * signed again by the keys of both the current and the next root (minus revoked keys).
   * Devices still on the current root and devices that already follow the next one both
   * verify every file, so a rotation opens no window of refused updates.
   */
  async signForRoot(next: Metadata<Root>, revoked: ReadonlySet<string>): Promise<void> {
    const current = await this.currentRoot();
    verifyRootStep(current, next); // S-10
    const nextSigners = this.signersUnder(next.signed, revoked);
    const both = {} as RoleSigners;
    for (const role of ONLINE_ROLES) {
      const old = current.signed.roles[role]!.keyIDs.filter((id) => !revoked.has(id)).flatMap(
        (id) => this.keys!.signer(id) ?? [],
      );
      const ids = new Set(nextSigners[role].map((s) => s.key.keyID));
      both[role] = [...nextSigners[role], ...old.filter((s) => !ids.has(s.key.keyID))];
    }
    await this.createFileSet(both);
    const staged = await this.stageWith(() => undefined, both.targets, true);
    await this.registerWith(staged, both);
    await this.completeTo(staged.version, both, { snapshot: true, timestamp: true });
  }

  /** Publishes the next root (after every file set was signed for it: signForRoot). */
  async publishRoot(next: Metadata<Root>): Promise<void> {
    verifyRootStep(await this.currentRoot(), next); // S-10
    const bytes = Buffer.from(JSON.stringify(next.toJSON()));
    if (!(await this.storage.putBytesIfAbsent('metadata', this.rootKey(next.signed.version), bytes))) {
      throw new ServerError(
        'REPOSITORY_CONFLICT',
        `${this.name} root version ${next.signed.version} was published by someone else`,
      );
    }
    this.root = next;
  }

  private key(file: string): string {
    return `${this.scope}/${file}`;
  }

  /** Roots are the repository's, shared by every partition. */
  private rootKey(version: number): string {
    return this.storageKey(`${version}.root.json`);
  }

  /** The signed fields that bind a partition's files to it (trust/layout.ts). */
  private bound(): { unrecognizedFields?: Record<string, string> } {
    return this.partition ? { unrecognizedFields: { [PARTITION_FIELD]: this.partition } } : {};
  }

  /** Key ceremony: the first root and an empty, signed repository. */
  async initialize(rootJson: string): Promise<void> {
    await this.storage.putBytesIfAbsent('metadata', this.rootKey(1), Buffer.from(rootJson));
    await this.createFileSet();
  }

  /**
   * An empty, signed file set (version 1 of each role) unless one exists: the flat one at
   * the ceremony, a partition when its first release is signed into it.
   */
  async createFileSet(given?: RoleSigners): Promise<void> {
    if (await this.storage.stat('metadata', this.key('timestamp.json'))) return;
    const signers = given ?? (await this.signers());
    const targets = new Metadata(
      new Targets({
        specVersion: SPEC_VERSION,
        version: 1,
        expires: this.expires(this.expiry.targetsDays * 24),
        ...this.bound(),
      }),
    );
    signMetadata(targets, signers.targets);
    await this.storage.putBytesIfAbsent(
      'metadata',
      this.key('1.targets.json'),
      Buffer.from(JSON.stringify(targets.toJSON())),
    );
    const snapshotBytes =
      (await this.writeSnapshot(1, 1, signers.snapshot)) ??
      (await this.storage.getBytes('metadata', this.key('1.snapshot.json'), MAX_METADATA_BYTES));
    await this.writeTimestamp(1, 1, snapshotBytes!, signers.timestamp);
  }

  /** Whether this file set was created (a partition exists once a release was signed into it). */
  async exists(): Promise<boolean> {
    return (await this.storage.stat('metadata', this.key('timestamp.json'))) !== undefined;
  }

  /** The newest targets (head), as name -> entry; a partition not created yet holds none. */
  async targetsOrNone(): Promise<Record<string, TargetFile>> {
    return this.partition && !(await this.exists()) ? {} : (await this.targets()).signed.targets;
  }

  /** What devices see now (published), as name -> entry; a partition not created yet holds none. */
  async publishedOrNone(): Promise<Record<string, TargetFile>> {
    return this.partition && !(await this.exists()) ? {} : (await this.published()).signed.targets;
  }

  /** Where a file of this set is in storage: roots are the repository's, the rest the set's own. */
  storageKey(file: string): string {
    return /^[0-9]+\.root\.json$/.test(file) ? `${this.name}/${file}` : this.key(file);
  }

  async targets(): Promise<Metadata<Targets>> {
    return (await this.head()).targets;
  }

  /** Signing stage: apply a change to the newest targets and sign it with the targets keys. */
  async stage(change: (targets: Targets) => void, force = false): Promise<StagedTargets> {
    const signers = await this.signers();
    await this.createFileSet(signers);
    return this.stageWith(change, signers.targets, force);
  }

  private async stageWith(
    change: (targets: Targets) => void,
    signers: TufSigner[],
    force: boolean,
  ): Promise<StagedTargets> {
    const head = await this.head();
    const copy = Targets.fromJSON(structuredClone(head.targets.signed.toJSON()));
    const next = new Metadata(
      new Targets({
        specVersion: SPEC_VERSION,
        version: head.targetsVersion + 1,
        expires: this.expires(this.expiry.targetsDays * 24),
        targets: copy.targets,
        ...this.bound(),
      }),
    );
    change(next.signed);
    if (!force && JSON.stringify(next.signed.targets) === JSON.stringify(head.targets.signed.targets)) {
      return { version: head.targetsVersion, json: JSON.stringify(head.targets.toJSON()) };
    }
    signMetadata(next, signers);
    return { version: next.signed.version, json: JSON.stringify(next.toJSON()) };
  }

  /**
   * Registration: claim the staged targets version, then snapshot and timestamp. Retrying
   * with the same staged bytes is safe; a version taken by other bytes is a conflict and
   * the caller signs again on the new head.
   */
  async register(staged: StagedTargets): Promise<void> {
    await this.registerWith(staged, await this.signers());
  }

  private async registerWith(
    staged: StagedTargets,
    signers: Pick<RoleSigners, 'snapshot' | 'timestamp'>,
  ): Promise<void> {
    const key = this.key(`${staged.version}.targets.json`);
    const bytes = Buffer.from(staged.json);
    if (!(await this.storage.putBytesIfAbsent('metadata', key, bytes))) {
      const existing = await this.storage.getBytes('metadata', key, MAX_METADATA_BYTES);
      if (!existing?.equals(bytes)) {
        throw new ServerError(
          'REPOSITORY_CONFLICT',
          `${this.scope} targets version ${staged.version} was taken by another release`,
        );
      }
    }
    await this.completeTo(staged.version, signers);
  }

  /** Stage and register in one go, signing again whenever another writer got there first. */
  async publish(change: (targets: Targets) => void, attempts = 8): Promise<number> {
    for (let i = 1; ; i++) {
      const signers = await this.signers();
      await this.createFileSet(signers);
      const staged = await this.stageWith(change, signers.targets, false);
      try {
        await this.registerWith(staged, signers);
        return staged.version;
      } catch (err) {
        if (!(err instanceof ServerError && err.code === 'REPOSITORY_CONFLICT') || i >= attempts) throw err;
      }
    }
  }

  /**
   * Makes timestamp.json cover targets version `targetsVersion` (or a later one): a new
   * snapshot for the newest claimed targets if none covers it, then the timestamp,
   * replaced only if it is still the one read (If-Match), so no writer's change is lost
   * and the timestamp version never goes back. `renew` re-signs even when covered
   * (freshness).
   */
  private async completeTo(
    targetsVersion: number,
    signers: Pick<RoleSigners, 'snapshot' | 'timestamp'>,
    renew: { snapshot?: boolean; timestamp?: boolean } = {},
  ): Promise<void> {
    let snapshotRenewed = false;
    for (let attempt = 0; attempt < 50; attempt++) {
      const published = await this.readTimestamp();
      const publishedSnapshot = await this.readSnapshot(published.md.signed.snapshotMeta.version);
      const covered = (publishedSnapshot.md.signed.meta['targets.json']?.version ?? 0) >= targetsVersion;
      if (covered && !renew.timestamp && !(renew.snapshot && !snapshotRenewed)) return;
      const head = await this.head();
      let snapshotVersion = head.snapshotVersion;
      let snapshotBytes: Buffer;
      const latest =
        head.snapshotVersion === publishedSnapshot.version
          ? publishedSnapshot
          : await this.readSnapshot(head.snapshotVersion);
      const latestCovers = (latest.md.signed.meta['targets.json']?.version ?? 0) >= head.targetsVersion;
      if (latestCovers && !(renew.snapshot && !snapshotRenewed)) {
        snapshotBytes = latest.bytes; // the timestamp hashes the stored bytes
      } else {
        snapshotVersion += 1;
        const written = await this.writeSnapshot(snapshotVersion, head.targetsVersion, signers.snapshot);
        if (!written) continue; // another writer took this snapshot version; look again
        snapshotBytes = written;
        snapshotRenewed = true;
      }
      const timestamp = this.signTimestamp(
        published.md.signed.version + 1,
        snapshotVersion,
        snapshotBytes,
        signers.timestamp,
      );
      if (await this.storage.putBytesIfMatch('metadata', this.key('timestamp.json'), timestamp, published.etag)) return;
    }
    throw new ServerError('REPOSITORY_CONFLICT', `${this.scope} timestamp kept changing under us; try again`);
  }

  /**
   * Freshness: re-signs every role that expires within `withinHours` (targets, then
   * snapshot, then timestamp), so devices never see stale metadata while the system runs.
   */
  async refreshExpiring(withinHours: number): Promise<RoleExpiry[]> {
    const signers = await this.signers();
    const soon = Date.now() + withinHours * 3_600_000;
    const expiring = (iso: string) => Date.parse(iso) < soon;
    const head = await this.head();
    let targetsVersion = head.targetsVersion;
    if (expiring(head.targets.signed.expires)) {
      const staged = await this.stageWith(() => undefined, signers.targets, true);
      await this.registerWith(staged, signers);
      targetsVersion = staged.version;
    }
    const before = await this.status();
    const snapshotRole = before.find((r) => r.role === 'snapshot')!;
    const timestampRole = before.find((r) => r.role === 'timestamp')!;
    await this.completeTo(targetsVersion, signers, {
      snapshot: expiring(snapshotRole.expires),
      timestamp: expiring(timestampRole.expires) || expiring(snapshotRole.expires),
    });
    return this.status();
  }

  /** What devices see now, role by role: version and expiry (for `ota metadata status`). */
  async status(): Promise<RoleExpiry[]> {
    // Without the floor: the status must show a rolled-back storage, not refuse it.
    const { timestamp, snapshot, targets } = await this.readPublished();
    return [
      { role: 'root', version: this.root.signed.version, expires: this.root.signed.expires },
      { role: 'targets', version: targets.signed.version, expires: targets.signed.expires },
      { role: 'snapshot', version: snapshot.signed.version, expires: snapshot.signed.expires },
      { role: 'timestamp', version: timestamp.signed.version, expires: timestamp.signed.expires },
    ];
  }

  /** Claims snapshot `version`; undefined when another writer holds it. */
  private async writeSnapshot(
    version: number,
    targetsVersion: number,
    signers: TufSigner[],
  ): Promise<Buffer | undefined> {
    const snapshot = new Metadata(
      new Snapshot({
        specVersion: SPEC_VERSION,
        version,
        expires: this.expires(this.expiry.snapshotDays * 24),
        meta: { 'targets.json': new MetaFile({ version: targetsVersion }) },
        ...this.bound(),
      }),
    );
    signMetadata(snapshot, signers);
    const bytes = Buffer.from(JSON.stringify(snapshot.toJSON()));
    return (await this.storage.putBytesIfAbsent('metadata', this.key(`${version}.snapshot.json`), bytes))
      ? bytes
      : undefined;
  }

  private async writeTimestamp(
    version: number,
    snapshotVersion: number,
    snapshotBytes: Buffer,
    signers: TufSigner[],
  ): Promise<void> {
    // Only if absent: a creator that lost a race must not put version 1 over a newer one.
    await this.storage.putBytesIfAbsent(
      'metadata',
      this.key('timestamp.json'),
      this.signTimestamp(version, snapshotVersion, snapshotBytes, signers),
    );
  }

  private signTimestamp(version: number, snapshotVersion: number, snapshotBytes: Buffer, signers: TufSigner[]): Buffer {
    const timestamp = new Metadata(
      new Timestamp({
        specVersion: SPEC_VERSION,
        version,
        expires: this.expires(this.expiry.timestampHours),
        snapshotMeta: new MetaFile({
          version: snapshotVersion,
          length: snapshotBytes.length,
          hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
        }),
        ...this.bound(),
      }),
    );
    signMetadata(timestamp, signers);
    return Buffer.from(JSON.stringify(timestamp.toJSON()));
  }

  /**
   * The newest state: from timestamp.json, then forward over any snapshot or targets
   * version a crashed writer claimed but did not finish. Every file is verified against
   * the trusted root (signature, and the version its file name claims) before use.
   */
  private async head(): Promise<Head> {
    return this.checked(
      () => this.readHead(),
      (h) => ({ timestamp: h.timestamp.signed.version, snapshot: h.snapshotVersion, targets: h.targetsVersion }),
    );
  }

  private async readHead(): Promise<Head> {
    const timestamp = (await this.readTimestamp()).md;
    let snapshotVersion = timestamp.signed.snapshotMeta.version;
    while (await this.storage.stat('metadata', this.key(`${snapshotVersion + 1}.snapshot.json`))) snapshotVersion += 1;
    const snapshot = (await this.readSnapshot(snapshotVersion)).md;
    let targetsVersion = snapshot.signed.meta['targets.json']?.version ?? 1;
    while (await this.storage.stat('metadata', this.key(`${targetsVersion + 1}.targets.json`))) targetsVersion += 1;
    const targets = await this.readTargets(targetsVersion);
    return { timestamp, snapshotVersion, targetsVersion, targets };
  }

  /** What devices see now: timestamp -> snapshot -> targets, nothing unpublished. */
  async published(): Promise<Metadata<Targets>> {
    const found = await this.checked(
      () => this.readPublished(),
      (r) => ({
        timestamp: r.timestamp.signed.version,
        snapshot: r.snapshot.signed.version,
        targets: r.targets.signed.version,
      }),
    );
    return found.targets;
  }

  /** The published chain as stored: timestamp, the snapshot it names, the targets that names. */
  private async readPublished(): Promise<{
    timestamp: Metadata<Timestamp>;
    snapshot: Metadata<Snapshot>;
    targets: Metadata<Targets>;
  }> {
    const timestamp = (await this.readTimestamp()).md;
    const snapshot = (await this.readSnapshot(timestamp.signed.snapshotMeta.version)).md;
    return { timestamp, snapshot, targets: await this.readTargets(snapshot.signed.meta['targets.json']?.version ?? 1) };
  }

  /**
   * timestamp.json as stored, for a device: when it verifies against the current root, it is
   * checked against the floor (its version and the snapshot version it names), so the API
   * never serves a validly signed older view. One that does not verify is passed on as it
   * is once its claimed versions are compared: no watermark moves for it, and the device
   * refuses it (METADATA_UNTRUSTED) as it would any forgery; the device judges signatures.
   */
  async servedTimestamp(): Promise<Buffer> {
    // Every device asks for it on every check: within `servedCacheMs` (OTA_ROLLOUT_CACHE_MS,
    // the offers' own freshness) they share one read and one signature check.
    if (this.served && Date.now() - this.served.at < this.servedCacheMs) return this.served.bytes;
    const bytes = this.readServedTimestamp();
    this.served = { at: Date.now(), bytes };
    bytes.catch(() => {
      if (this.served?.bytes === bytes) this.served = undefined;
    });
    return bytes;
  }

  private async readServedTimestamp(): Promise<Buffer> {
    const floor = await this.floor?.before(this.scope);
    let found: { md: Metadata<Timestamp>; bytes: Buffer } | undefined;
    try {
      await this.currentRoot();
      found = await this.readVerified('timestamp.json', MetadataKind.Timestamp, 'timestamp');
    } catch (err) {
      // A timestamp (or a newer root) that does not verify: what the file claims is still
      // compared, never raising, so neither a broken signature nor a junk root file hides an
      // old timestamp put back in storage.
      if (!(err instanceof ServerError && err.code === 'VALIDATION_FAILED')) throw err;
      const stored = await this.storage.getBytes('metadata', this.key('timestamp.json'), MAX_METADATA_BYTES);
      if (!stored) throw err;
      if (this.floor && floor) await this.floor.admit(this.scope, claimedVersions(stored), floor, { raise: false });
      return stored;
    }
    if (!found)
      throw new ServerError(
        'NOT_FOUND',
        this.partition
          ? `${this.scope} has no published metadata yet`
          : `${this.name} repository is not initialized (run the key ceremony)`,
      );
    if (this.floor && floor) {
      await this.floor.admit(
        this.scope,
        { timestamp: found.md.signed.version, snapshot: found.md.signed.snapshotMeta.version },
        floor,
      );
    }
    return found.bytes;
  }

  /** A read of storage admitted by the floor taken just before it (see VersionFloor). */
  private async checked<T>(read: () => Promise<T>, versions: (found: T) => RoleVersions): Promise<T> {
    if (!this.floor) return read();
    const floor = await this.floor.before(this.scope);
    const found = await read();
    await this.floor.admit(this.scope, versions(found), floor);
    return found;
  }

  private async readTimestamp(): Promise<{ md: Metadata<Timestamp>; bytes: Buffer; etag: string }> {
    await this.currentRoot();
    const found = await this.readVerified('timestamp.json', MetadataKind.Timestamp, 'timestamp');
    if (!found)
      throw new ServerError(
        'NOT_FOUND',
        this.partition
          ? `${this.scope} has no published metadata yet`
          : `${this.name} repository is not initialized (run the key ceremony)`,
      );
    return found;
  }

  private async readSnapshot(version: number): Promise<{ md: Metadata<Snapshot>; bytes: Buffer; version: number }> {
    const found = await this.readVerified(`${version}.snapshot.json`, MetadataKind.Snapshot, 'snapshot', version);
    if (!found) throw new ServerError('NOT_FOUND', `${this.scope} snapshot version ${version} is missing`);
    return { md: found.md, bytes: found.bytes, version };
  }

  private async readTargets(version: number): Promise<Metadata<Targets>> {
    const found = await this.readVerified(`${version}.targets.json`, MetadataKind.Targets, 'targets', version);
    if (!found) throw new ServerError('NOT_FOUND', `${this.scope} targets version ${version} is missing`);
    return found.md;
  }

  private async readVerified<K extends MetadataKind.Timestamp | MetadataKind.Snapshot | MetadataKind.Targets>(
    file: string,
    kind: K,
    role: string,
    expectedVersion?: number,
  ): Promise<{ md: Metadata<KindOf<K>>; bytes: Buffer; etag: string } | undefined> {
    const found = await this.storage.getVersioned('metadata', this.key(file), MAX_METADATA_BYTES);
    if (!found) return undefined;
    try {
      const md = Metadata.fromJSON(kind as MetadataKind.Targets, parseTufJson(found.bytes)) as unknown as Metadata<
        KindOf<K>
      >;
      this.root.verifyDelegate(role, md);
      // A validly signed old file copied into a newer slot must not be adopted.
      if (expectedVersion !== undefined && md.signed.version !== expectedVersion) {
        throw new Error(`claims version ${md.signed.version}`);
      }
      // Nor a validly signed file of another partition (or of the flat set) put in this one's place.
      const claimed = md.signed.unrecognizedFields[PARTITION_FIELD];
      if (claimed !== this.partition) throw new Error(`names partition ${JSON.stringify(claimed)?.slice(0, 80)}`);
      return { md, bytes: found.bytes, etag: found.etag };
    } catch (err) {
      throw new ServerError('VALIDATION_FAILED', `${this.scope}/${file} does not verify against the trusted root`, {
        cause: err,
      });
    }
  }

  private expires(hours: number): string {
    return new Date(Date.now() + hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
}

/** The versions an unverified timestamp claims (none when it is not even readable). */
function claimedVersions(bytes: Buffer): RoleVersions {
  try {
    const signed = (
      JSON.parse(bytes.toString('utf8')) as {
        signed?: { version?: unknown; meta?: Record<string, { version?: unknown }> };
      }
    ).signed;
    const timestamp = signed?.version;
    const snapshot = signed?.meta?.['snapshot.json']?.version;
    return {
      ...(Number.isInteger(timestamp) ? { timestamp: timestamp as number } : {}),
      ...(Number.isInteger(snapshot) ? { snapshot: snapshot as number } : {}),
    };
  } catch {
    return {};
  }
}

type KindOf<K> = K extends MetadataKind.Timestamp ? Timestamp : K extends MetadataKind.Snapshot ? Snapshot : Targets;

/** A target entry as TUF stores it, from the release model's fields. */
export function targetFile(name: string, length: number, sha256: string, custom: Record<string, unknown>): TargetFile {
  return new TargetFile({ path: name, length, hashes: { sha256 }, unrecognizedFields: { custom: custom as never } });
}
