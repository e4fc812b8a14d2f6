import type { RepositoryName } from '@enigm-ota/client-sdk';
import {
  Metadata,
  MetadataKind,
  type Root,
  type Snapshot,
  type TargetFile,
  Targets,
  type Timestamp,
} from '@tufjs/models';

import { ServerError } from '../common/errors';
import type { Storage } from '../infra/storage';
import type { LogAppender } from '../infra/transparencyLog';
import { type KeySource, ONLINE_ROLES, signersFor } from './keyring';
import { MetadataFiles, type RoleKind, type VerifiedFile } from './metadataFiles';
import { expiresIn, signedAtOf, signedSnapshot, signedTimestamp, targetsMetadata } from './roleMetadata';
import { followRoots, verifyRootStep } from './rootChain';
import { parseTufJson } from './tufJson';
import { signMetadata, type TufSigner } from './tufKeys';
import { type Published, readAboveFloor, type RoleVersions, type VersionFloor } from './versionFloor';

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

export interface MetadataFileSetOptions {
  name: RepositoryName;
  storage: Storage;
  /** The provisioned root; newer roots in storage are followed and verified step by step (as devices do). */
  root: Metadata<Root>;
  expiry: Expiry;
  /** Where the online roles' private keys are; without it the repository is read-only (the API). */
  keys?: KeySource;
  /** Where storage rollback is noticed (trust/versionFloor.ts); none: not checked (ceremony tools). */
  floor?: VersionFloor;
  /** Told when a newer root is followed (a key change by `ota keys`): the API records the event. */
  onRootChange?: (repo: RepositoryName, version: number, previous: number) => void;
  /** One partition's file set (`channel/hardwareId`, trust/layout.ts); none: the flat one. */
  partition?: string;
  /** Where every file this set signs is logged before it is written (ADR 0078); none: not logged. */
  log?: LogAppender;
}

const MAX_TIMESTAMP_ROUNDS = 50;

/** A timestamp.json (signed here, or read verified) and the snapshot it names. */
interface PublishedFiles {
  timestamp: { version: number; bytes: Buffer } | { md: Metadata<Timestamp>; bytes: Buffer };
  snapshot: { version: number; bytes: Buffer; md: Metadata<Snapshot> };
}

/**
 * A partition's timestamp signed longer ago than this is signed again by the next freshness
 * run, so none is older than this plus the Schedule's interval (at most 120 min): well inside
 * the bound devices set on a partition timestamp they do not hold yet (6 h by default, D-18).
 */
const PARTITION_TIMESTAMP_RENEW_MS = 30 * 60_000;

/**
 * A TUF repository kept in object storage, with consistent snapshots so published
 * files never change: `N.root.json`, `N.targets.json`, `N.snapshot.json`, then
 * `timestamp.json` last. Versions are claimed with conditional writes (If-None-Match),
 * so concurrent releases never overwrite each other; a writer that crashed after
 * claiming a version leaves a file the next writer adopts and completes. Where files live
 * and how they are read and claimed is trust/metadataFiles.ts; how each role's file is
 * built and signed, trust/roleMetadata.ts.
 */
export class MetadataFileSet {
  readonly name: RepositoryName;
  readonly partition: string | undefined;
  private readonly files: MetadataFiles;
  private root: Metadata<Root>;
  private readonly expiry: Expiry;
  private readonly keys: KeySource | undefined;
  private readonly floor: VersionFloor | undefined;
  private readonly onRootChange: MetadataFileSetOptions['onRootChange'];
  /** The newest timestamp version this file set handed to its floor as published. */
  private announced = 0;

  constructor(options: MetadataFileSetOptions) {
    this.name = options.name;
    this.partition = options.partition;
    this.files = new MetadataFiles(options.storage, {
      repo: options.name,
      partition: options.partition,
      log: options.log,
    });
    this.root = options.root;
    this.expiry = options.expiry;
    this.keys = options.keys;
    this.floor = options.floor;
    this.onRootChange = options.onRootChange;
  }

  /** Where this file set lives in storage, and its name in watermarks and messages. */
  get scope(): string {
    return this.files.scope;
  }

  /** Where a file of this set is in storage: roots are the repository's, the rest the set's own. */
  storageKey(file: string): string {
    return this.files.storageKey(file);
  }

  /** The newest root verified so far (no storage read). */
  get knownRoot(): Metadata<Root> {
    return this.root;
  }

  /** The newest root that verifies from the trusted one; `ota keys` publishes new ones. */
  async currentRoot(): Promise<Metadata<Root>> {
    const previous = this.root.signed.version;
    this.root = await followRoots(this.root, (v) => this.files.get(`${v}.root.json`));
    if (this.root.signed.version > previous) this.onRootChange?.(this.name, this.root.signed.version, previous);
    return this.root;
  }

  /** Signers for every online role under the current root (fails closed below a threshold). */
  async signers(): Promise<RoleSigners> {
    return this.signersUnder((await this.currentRoot()).signed);
  }

  private signersUnder(root: Root, except?: ReadonlySet<string>): RoleSigners {
    if (!this.keys) throw new ServerError('CONFIG_INVALID', `${this.name} repository was opened read-only`);
    const keys = this.keys;
    const [targets, snapshot, timestamp] = ONLINE_ROLES.map((role) => signersFor(root, { role, keys, except }));
    return { targets: targets!, snapshot: snapshot!, timestamp: timestamp! };
  }

  /**
   * A key change (`ota keys`), before the next root is published: every online role is
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
    const staged = await this.signChange({ change: () => undefined, signers: both.targets, force: true });
    await this.registerWith(staged, both);
    await this.completeTo(staged.version, both, { snapshot: true, timestamp: true });
  }

  /** Publishes the next root (after every file set was signed for it: signForRoot). */
  async publishRoot(next: Metadata<Root>): Promise<void> {
    verifyRootStep(await this.currentRoot(), next); // S-10
    const bytes = Buffer.from(JSON.stringify(next.toJSON()));
    if (!(await this.files.claim(`${next.signed.version}.root.json`, bytes))) {
      throw new ServerError(
        'REPOSITORY_CONFLICT',
        `${this.name} root version ${next.signed.version} was published by someone else`,
      );
    }
    this.root = next;
  }

  /** Key ceremony: the first root and an empty, signed repository. */
  async initialize(rootJson: string): Promise<void> {
    await this.files.claim('1.root.json', Buffer.from(rootJson));
    await this.createFileSet();
  }

  /**
   * An empty, signed file set (version 1 of each role) unless one exists: the flat one at
   * the ceremony, a partition when its first release is signed into it.
   */
  async createFileSet(given?: RoleSigners): Promise<void> {
    if (await this.exists()) return;
    const signers = given ?? (await this.signers());
    const targets = targetsMetadata(this.fileFields('targets', 1));
    signMetadata(targets, signers.targets);
    await this.files.claim('1.targets.json', Buffer.from(JSON.stringify(targets.toJSON())));
    const snapshot = (await this.writeSnapshot(1, 1, signers.snapshot)) ?? (await this.files.get('1.snapshot.json'));
    // Only if absent: a creator that lost a race must not put version 1 over a newer one.
    await this.files.claim(
      'timestamp.json',
      signedTimestamp(
        { ...this.fileFields('timestamp', 1), snapshot: { version: 1, bytes: snapshot! } },
        signers.timestamp,
      ),
    );
  }

  /** Whether this file set was created (a partition exists once a release was signed into it). */
  exists(): Promise<boolean> {
    return this.files.exists('timestamp.json');
  }

  /** The newest targets (head), as name -> entry; a partition not created yet holds none. */
  async targetsOrNone(): Promise<Record<string, TargetFile>> {
    return this.partition && !(await this.exists()) ? {} : (await this.targets()).signed.targets;
  }

  /** What devices see now (published), as name -> entry; a partition not created yet holds none. */
  async publishedOrNone(): Promise<Record<string, TargetFile>> {
    return this.partition && !(await this.exists()) ? {} : (await this.published()).signed.targets;
  }

  async targets(): Promise<Metadata<Targets>> {
    return (await this.head()).targets;
  }

  /** Release signing: apply a change to the newest targets and sign it with the targets keys (not published yet). */
  async signTargets(change: (targets: Targets) => void, force = false): Promise<StagedTargets> {
    const signers = await this.signers();
    await this.createFileSet(signers);
    return this.signChange({ change, signers: signers.targets, force });
  }

  /** The newest targets with `change` applied, signed; the head itself when nothing changed (unless forced). */
  private async signChange(edit: {
    change: (targets: Targets) => void;
    signers: TufSigner[];
    force: boolean;
  }): Promise<StagedTargets> {
    const head = await this.head();
    const copy = Targets.fromJSON(structuredClone(head.targets.signed.toJSON()));
    const next = targetsMetadata({ ...this.fileFields('targets', head.targetsVersion + 1), targets: copy.targets });
    edit.change(next.signed);
    if (!edit.force && JSON.stringify(next.signed.targets) === JSON.stringify(head.targets.signed.targets)) {
      return { version: head.targetsVersion, json: JSON.stringify(head.targets.toJSON()) };
    }
    signMetadata(next, edit.signers);
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
    const file = `${staged.version}.targets.json`;
    const bytes = Buffer.from(staged.json);
    if (!(await this.files.claim(file, bytes))) {
      const existing = await this.files.get(file);
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
      const staged = await this.signChange({ change, signers: signers.targets, force: false });
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
    for (let attempt = 0; attempt < MAX_TIMESTAMP_ROUNDS; attempt++) {
      const published = await this.readTimestamp();
      const publishedSnapshot = await this.readSnapshot(published.md.signed.snapshotMeta.version);
      const covered = (publishedSnapshot.md.signed.meta['targets.json']?.version ?? 0) >= targetsVersion;
      const renewSnapshot = renew.snapshot === true && !snapshotRenewed;
      if (covered && !renew.timestamp && !renewSnapshot) {
        // Reported again when this writer never reported it (a report that failed is retried here).
        return this.announce({ timestamp: published, snapshot: publishedSnapshot });
      }
      const head = await this.head();
      const latest =
        head.snapshotVersion === publishedSnapshot.version
          ? publishedSnapshot
          : await this.readSnapshot(head.snapshotVersion);
      // The timestamp hashes the stored bytes.
      let snapshot = { version: head.snapshotVersion, bytes: latest.bytes, md: latest.md };
      if ((latest.md.signed.meta['targets.json']?.version ?? 0) < head.targetsVersion || renewSnapshot) {
        const written = await this.writeSnapshot(head.snapshotVersion + 1, head.targetsVersion, signers.snapshot);
        if (!written) continue; // another writer took this snapshot version; look again
        snapshot = { version: head.snapshotVersion + 1, bytes: written, md: parseSnapshot(written) };
        snapshotRenewed = true;
      }
      const version = published.md.signed.version + 1;
      const bytes = signedTimestamp({ ...this.fileFields('timestamp', version), snapshot }, signers.timestamp);
      if (await this.files.replace('timestamp.json', bytes, published.etag)) {
        return this.announce({ timestamp: { version, bytes }, snapshot });
      }
    }
    throw new ServerError('REPOSITORY_CONFLICT', `${this.scope} timestamp kept changing under us; try again`);
  }

  /**
   * S-25: what timestamp.json now publishes, handed to the floor before the writer reports
   * success, so the watermarks stand at it even if no reader saw it before storage was
   * rolled back. Once per timestamp version: a covered change reports it only when this
   * writer has not (its own report failed, or another writer published it).
   */
  private async announce(files: PublishedFiles): Promise<void> {
    const report = this.publishedOf(files);
    if (!this.floor || report.versions.timestamp <= this.announced) return;
    await this.floor.published(this.scope, report);
    this.announced = Math.max(this.announced, report.versions.timestamp);
  }

  private publishedOf({ timestamp, snapshot }: PublishedFiles): Published {
    return {
      repo: this.name,
      ...(this.partition === undefined ? {} : { partition: this.partition }),
      versions: {
        timestamp: 'md' in timestamp ? timestamp.md.signed.version : timestamp.version,
        snapshot: snapshot.version,
        targets: snapshot.md.signed.meta['targets.json']?.version ?? 1,
      },
      timestamp: timestamp.bytes,
      snapshot: snapshot.bytes,
    };
  }

  /**
   * A publication another process reports (S-25), verified here as a device would before the
   * floor rises to it: the timestamp signed under the current root for this file set, the
   * snapshot it names by version, length and hash. One that does not verify raises nothing
   * (VALIDATION_FAILED).
   */
  async admitPublished(files: { timestamp: Buffer; snapshot: Buffer }): Promise<void> {
    const root = await this.currentRoot();
    const timestamp = this.files.verify(MetadataKind.Timestamp, files.timestamp, { root });
    const named = timestamp.signed.snapshotMeta;
    try {
      named.verify(files.snapshot);
    } catch (err) {
      throw new ServerError('VALIDATION_FAILED', `${this.scope} snapshot is not the one its timestamp names`, {
        cause: err,
      });
    }
    const snapshot = this.files.verify(MetadataKind.Snapshot, files.snapshot, { root, version: named.version });
    const report = this.publishedOf({
      timestamp: { md: timestamp, bytes: files.timestamp },
      snapshot: { version: named.version, bytes: files.snapshot, md: snapshot },
    });
    await this.floor?.published(this.scope, report);
  }

  /**
   * Freshness: re-signs every role that expires within `withinHours` (targets, then
   * snapshot, then timestamp), so devices never see stale metadata while the system runs,
   * and a partition's timestamp signed more than PARTITION_TIMESTAMP_RENEW_MS ago (D-18).
   */
  async refreshExpiring(withinHours: number): Promise<RoleExpiry[]> {
    const signers = await this.signers();
    const soon = Date.now() + withinHours * 3_600_000;
    const expiring = (iso: string) => Date.parse(iso) < soon;
    const head = await this.head();
    let targetsVersion = head.targetsVersion;
    if (expiring(head.targets.signed.expires)) {
      const staged = await this.signChange({ change: () => undefined, signers: signers.targets, force: true });
      await this.registerWith(staged, signers);
      targetsVersion = staged.version;
    }
    const before = await this.status();
    const snapshotRole = before.find((r) => r.role === 'snapshot')!;
    const timestampRole = before.find((r) => r.role === 'timestamp')!;
    await this.completeTo(targetsVersion, signers, {
      snapshot: expiring(snapshotRole.expires),
      timestamp: expiring(timestampRole.expires) || expiring(snapshotRole.expires) || (await this.signedLongAgo()),
    });
    return this.status();
  }

  /** Whether this is a partition whose published timestamp is due for a new signing time (D-18). */
  private async signedLongAgo(): Promise<boolean> {
    if (!this.partition) return false;
    const signedAt = signedAtOf((await this.readTimestamp()).md.signed);
    // Written so that NaN (a timestamp signed before it carried the field) is renewed.
    return !(Date.now() - signedAt < PARTITION_TIMESTAMP_RENEW_MS);
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
    const bytes = signedSnapshot({ ...this.fileFields('snapshot', version), targetsVersion }, signers);
    return (await this.files.claim(`${version}.snapshot.json`, bytes)) ? bytes : undefined;
  }

  /**
   * The newest state: from timestamp.json, then forward over any snapshot or targets
   * version a crashed writer claimed but did not finish. Every file is verified against
   * the trusted root (signature, and the version its file name claims) before use.
   */
  private head(): Promise<Head> {
    return readAboveFloor(this.floor, {
      repo: this.scope,
      read: () => this.readHead(),
      versionsOf: (h) => ({
        timestamp: h.timestamp.signed.version,
        snapshot: h.snapshotVersion,
        targets: h.targetsVersion,
      }),
    });
  }

  private async readHead(): Promise<Head> {
    const timestamp = (await this.readTimestamp()).md;
    let snapshotVersion = timestamp.signed.snapshotMeta.version;
    while (await this.files.exists(`${snapshotVersion + 1}.snapshot.json`)) snapshotVersion += 1;
    const snapshot = (await this.readSnapshot(snapshotVersion)).md;
    let targetsVersion = snapshot.signed.meta['targets.json']?.version ?? 1;
    while (await this.files.exists(`${targetsVersion + 1}.targets.json`)) targetsVersion += 1;
    const targets = await this.readTargets(targetsVersion);
    return { timestamp, snapshotVersion, targetsVersion, targets };
  }

  /** What devices see now: timestamp -> snapshot -> targets, nothing unpublished. */
  async published(): Promise<Metadata<Targets>> {
    const found = await readAboveFloor(this.floor, {
      repo: this.scope,
      read: () => this.readPublished(),
      versionsOf: (r) => ({
        timestamp: r.timestamp.signed.version,
        snapshot: r.snapshot.signed.version,
        targets: r.targets.signed.version,
      }),
    });
    return found.targets;
  }

  /** The published chain as stored: timestamp, the snapshot it names, the targets that names. */
  private async readPublished() {
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
   * The API shares one read among devices for a moment (api/servedTimestamps.ts).
   */
  async readServedTimestamp(): Promise<Buffer> {
    const floor = await this.floor?.beforeRead(this.scope);
    let found: { md: Metadata<Timestamp>; bytes: Buffer };
    try {
      found = await this.readTimestamp();
    } catch (err) {
      // A timestamp (or a newer root) that does not verify: what the file claims is still
      // compared, never raising, so neither a broken signature nor a junk root file hides an
      // old timestamp put back in storage.
      if (!(err instanceof ServerError && err.code === 'VALIDATION_FAILED')) throw err;
      const stored = await this.files.get('timestamp.json');
      if (!stored) throw err;
      if (this.floor && floor)
        await this.floor.admit(this.scope, { seen: claimedVersions(stored), floor, raise: false });
      return stored;
    }
    if (this.floor && floor) {
      const seen = { timestamp: found.md.signed.version, snapshot: found.md.signed.snapshotMeta.version };
      await this.floor.admit(this.scope, { seen, floor });
    }
    return found.bytes;
  }

  private async readTimestamp() {
    await this.currentRoot();
    return this.read(MetadataKind.Timestamp);
  }

  /** A role's file, verified (MetadataFiles.readVerified); NOT_FOUND when it is not there. */
  private async read<K extends RoleKind>(kind: K, version?: number): Promise<VerifiedFile<K>> {
    const found = await this.files.readVerified(kind, { root: this.root, version });
    if (found) return found;
    if (version === undefined) throw this.notPublished();
    throw new ServerError('NOT_FOUND', `${this.scope} ${kind} version ${version} is missing`);
  }

  private notPublished(): ServerError {
    return new ServerError(
      'NOT_FOUND',
      this.partition
        ? `${this.scope} has no published metadata yet`
        : `${this.name} repository is not initialized (run the key ceremony)`,
    );
  }

  private async readSnapshot(version: number) {
    return { ...(await this.read(MetadataKind.Snapshot, version)), version };
  }

  private async readTargets(version: number): Promise<Metadata<Targets>> {
    return (await this.read(MetadataKind.Targets, version)).md;
  }

  /** What every new file of `role` in this set carries: its version, expiry from now, and partition. */
  private fileFields(role: 'targets' | 'snapshot' | 'timestamp', version: number) {
    const hours = {
      targets: this.expiry.targetsDays * 24,
      snapshot: this.expiry.snapshotDays * 24,
      timestamp: this.expiry.timestampHours,
    };
    return { version, expires: expiresIn(hours[role]), partition: this.partition };
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

/** A snapshot this writer just signed, read back from its bytes. */
function parseSnapshot(bytes: Buffer): Metadata<Snapshot> {
  return Metadata.fromJSON(MetadataKind.Snapshot, parseTufJson(bytes));
}
