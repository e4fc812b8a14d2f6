import type { RepositoryName } from '@enigm-ota/client-sdk';
import { readReleaseFields, rebuiltTargetOf } from '@enigm-ota/client-sdk';
import type { Metadata, Root, TargetFile } from '@tufjs/models';

import { ServerError } from '../common/errors';
import { type Layout, layoutOf, partitionFolder, partitionName } from './layout';
import { MetadataFileSet, type MetadataFileSetOptions, type RoleExpiry } from './metadataFileSet';

const MAX_OPEN_PARTITIONS = 10_000;

/** One file set's roles as `ota metadata status` shows them; `partition` absent: the flat set. */
export interface FileSetStatus {
  partition?: string;
  roles: RoleExpiry[];
}

/**
 * A repository as the servers use it: one root (and its keys), and the file sets devices
 * read under it, which its layout decides (trust/layout.ts): the flat one, or one per
 * (channel, hardware) partition. Every write and read of targets goes through the file sets
 * a release or a device belongs to, so the rest of the system never asks which layout is on.
 */
export interface MetadataRepositoryOptions extends Omit<MetadataFileSetOptions, 'partition'> {
  /**
   * Called with a file set's scope before its rollout targets are read for offers (the API drops
   * its served timestamp).
   */
  onOffersRead?: (scope: string) => void;
}

export class MetadataRepository {
  readonly name: RepositoryName;
  readonly flat: MetadataFileSet;
  private readonly partitions = new Map<string, MetadataFileSet>();

  constructor(private readonly options: MetadataRepositoryOptions) {
    this.name = options.name;
    this.flat = new MetadataFileSet(options);
  }

  currentRoot(): Promise<Metadata<Root>> {
    return this.flat.currentRoot();
  }

  async layout(): Promise<Layout> {
    return layoutOf((await this.currentRoot()).signed);
  }

  /** Key ceremony: the first root and the flat file set (empty until a layout change). */
  initialize(rootJson: string): Promise<void> {
    return this.flat.initialize(rootJson);
  }

  /** One partition's file set (it exists in storage once a release was signed into it). */
  partition(channel: string, hardwareId: string): MetadataFileSet {
    const name = partitionName(channel, hardwareId);
    let found = this.partitions.get(name);
    if (!found) {
      // Names can come from devices' polls: the cache is bounded.
      if (this.partitions.size >= MAX_OPEN_PARTITIONS) this.partitions.clear();
      // Starts from the newest root already verified here, not from the provisioned one.
      found = new MetadataFileSet({ ...this.options, root: this.flat.knownRoot, partition: name });
      this.partitions.set(name, found);
    }
    return found;
  }

  /** A partition by its name (`channel/hardwareId`), as staged parts and watermarks carry it. */
  partitionNamed(name: string): MetadataFileSet {
    const [channel, hardwareId, ...rest] = name.split('/');
    if (rest.length > 0 || !channel || !hardwareId)
      throw new ServerError('INVALID_INPUT', `not a partition name: ${name.slice(0, 100)}`);
    return this.partition(channel, hardwareId);
  }

  /** The file sets a release of `channel` for these hardware ids is signed into. */
  async fileSetsFor(channel: string, hardwareIds: readonly string[]): Promise<MetadataFileSet[]> {
    if ((await this.layout()) === 'flat') return [this.flat];
    return hardwareIds.map((h) => this.partition(channel, h));
  }

  /** The file set a device of this channel and hardware reads. */
  async fileSetOf(channel: string, hardwareId: string): Promise<MetadataFileSet> {
    return (await this.fileSetsFor(channel, [hardwareId]))[0]!;
  }

  /**
   * The rollout targets a device of this channel and hardware is offered from (the API's
   * offer index): the flat set's, or its partition's (none yet: nothing signed into it).
   */
  async offeredTo(
    channel: string,
    hardwareId: string,
  ): Promise<{ scope: string; targets: Record<string, TargetFile> }> {
    let set: MetadataFileSet;
    try {
      set = await this.fileSetOf(channel, hardwareId);
    } catch (err) {
      // A device enrolled without a channel or hardware id has no partition: nothing is offered.
      if (err instanceof ServerError && err.code === 'INVALID_INPUT') return { scope: '(none)', targets: {} };
      throw err;
    }
    // Offers never run ahead of the timestamp devices are served (both cached for a moment).
    this.options.onOffersRead?.(set.scope);
    return { scope: set.scope, targets: await set.publishedOrNone() };
  }

  /** Every file set devices read now (of one channel when given), listed from storage. */
  async fileSets(channel?: string): Promise<MetadataFileSet[]> {
    if ((await this.layout()) === 'flat') return [this.flat];
    const top = `${partitionFolder(this.name, '')}`;
    const storage = this.options.storage;
    const channels = channel ? [channel] : await storage.folders('metadata', top);
    const found: MetadataFileSet[] = [];
    for (const c of channels) {
      for (const h of await storage.folders('metadata', `${top}${c}/`)) {
        try {
          found.push(this.partition(c, h));
        } catch {
          // A folder no partition name matches was not written by us: not a file set.
        }
      }
    }
    return found;
  }

  /** A key change: every file set is signed for the next root (by both key sets), then the root is published once. */
  async changeRoot(next: Metadata<Root>, revoked: ReadonlySet<string>): Promise<void> {
    for (const set of await this.fileSets()) await set.signForRoot(next, revoked);
    await this.flat.publishRoot(next);
  }

  /**
   * The move to partitions, under a next root that announces them (`ota keys partition`):
   * every target of the flat file set is signed into the partition of each hardware id it
   * names, then that root is published. A device following it finds its partition complete;
   * the flat files stay as they were for devices still on the way. Targets a device would
   * not read (no release fields) stay behind. Returns the partitions written.
   */
  async partitionUnder(next: Metadata<Root>): Promise<string[]> {
    if ((await this.layout()) === 'partitioned')
      throw new ServerError('INVALID_INPUT', `${this.name} repository is already partitioned`);
    if (layoutOf(next.signed) !== 'partitioned')
      throw new ServerError('INVALID_INPUT', 'the next root does not announce partitions');
    const byPartition = new Map<string, TargetFile[]>();
    const partitionsOf = new Map<string, string[]>();
    const flatTargets = Object.values((await this.flat.published()).signed.targets);
    for (const target of flatTargets) {
      let policy: ReturnType<typeof readReleaseFields>;
      try {
        policy = readReleaseFields(target);
      } catch {
        continue;
      }
      for (const h of policy.hardwareIds) {
        const set = this.partition(policy.channel, h);
        byPartition.set(set.partition!, [...(byPartition.get(set.partition!) ?? []), target]);
        partitionsOf.set(target.path, [...(partitionsOf.get(target.path) ?? []), set.partition!]);
      }
    }
    // A delta update goes wherever the release it rebuilds went.
    for (const target of flatTargets) {
      const rebuilds = rebuiltTargetOf(target);
      for (const name of rebuilds ? (partitionsOf.get(rebuilds) ?? []) : []) byPartition.get(name)!.push(target);
    }
    // Signed by the current keys, which the next root keeps: only the layout changes.
    for (const [name, targets] of byPartition) {
      await this.partitionNamed(name).publish((t) => {
        for (const target of targets) t.addTarget(target);
      });
    }
    await this.flat.publishRoot(next);
    return [...byPartition.keys()].sort();
  }

  /**
   * Freshness: every file set's roles that expire within `withinHours`, re-signed. One file
   * set that fails does not stop the others (they would freeze too); the first failure is
   * thrown once all were tried, so the schedule's run fails and retries.
   */
  async refreshExpiring(withinHours: number): Promise<FileSetStatus[]> {
    const out: FileSetStatus[] = [];
    let failed: unknown;
    for (const set of await this.fileSets()) {
      try {
        out.push(fileSetStatusOf(set, await set.refreshExpiring(withinHours)));
      } catch (err) {
        failed ??= err;
      }
    }
    if (failed !== undefined) throw failed as Error;
    return out;
  }

  /** What devices see now, file set by file set (storage read without the floor). */
  async status(): Promise<FileSetStatus[]> {
    const out: FileSetStatus[] = [];
    for (const set of await this.fileSets()) out.push(fileSetStatusOf(set, await set.status()));
    return out;
  }
}

function fileSetStatusOf(set: MetadataFileSet, roles: RoleExpiry[]): FileSetStatus {
  return set.partition ? { partition: set.partition, roles } : { roles };
}
