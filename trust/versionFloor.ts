import type { RepositoryName } from '@enigm-ota/client-sdk';

import type { MetadataWatermark } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { Watermarks } from '../infra/watermarks';

export const WATERMARKED_ROLES = ['timestamp', 'snapshot', 'targets'] as const;
type WatermarkedRole = (typeof WATERMARKED_ROLES)[number];

/** The versions of a repository's roles one read of storage found (a role absent: not read). */
export type RoleVersions = Partial<Record<WatermarkedRole, number>>;

/**
 * Storage rollback noticed on the server (S-25): devices refuse older metadata by
 * themselves, and this tells the servers. A floor knows the highest verified version of each
 * role seen so far, kept in the fleet store so it survives restarts and is shared by
 * replicas. A reader takes the floor *before* it reads storage (`beforeRead`) and then `admit`s
 * what it found: older than that floor is STORAGE_ROLLBACK. A version another reader raised
 * the floor to while this one was reading is not a rollback (storage moved on meanwhile), so
 * concurrent publishes never look like one. `raise: false` compares without raising (a file
 * that did not verify moves no watermark). A writer hands what it published to `published`
 * before it reports success, so the floor stands at its versions even if no reader saw them
 * before storage was rolled back. The API keeps the floor (StoreFloor: its verified reads and
 * the publications reported to it raise it); a worker compares with the API's and reports
 * what it publishes to it (trust/apiFloor.ts).
 */
export interface VersionFloor {
  beforeRead(repo: string): Promise<RoleVersions>;
  admit(repo: string, read: AdmittedRead): Promise<void>;
  published(repo: string, files: Published): Promise<void>;
}

/**
 * What a writer made timestamp.json publish: the timestamp and the snapshot it names, as
 * stored bytes, the versions they carry, and the file set (its repository and partition).
 */
export interface Published {
  repo: RepositoryName;
  partition?: string;
  versions: Required<RoleVersions>;
  timestamp: Buffer;
  snapshot: Buffer;
}

/** What one read found (`seen`) against the floor taken before it; `raise: false` only compares. */
export interface AdmittedRead {
  seen: RoleVersions;
  floor: RoleVersions;
  raise?: boolean;
}

/** A role found below the floor: what was found, and the highest version already seen. */
export interface BelowFloor {
  role: WatermarkedRole;
  found: number;
  highest: number;
}

/**
 * A read of storage admitted by the floor taken just before it (see VersionFloor); without a
 * floor (ceremony tools, `ota metadata status`), the read alone.
 */
export async function readAboveFloor<T>(
  floor: VersionFloor | undefined,
  read: { repo: string; read: () => Promise<T>; versionsOf: (found: T) => RoleVersions },
): Promise<T> {
  if (!floor) return read.read();
  const before = await floor.beforeRead(read.repo);
  const found = await read.read();
  await floor.admit(read.repo, { seen: read.versionsOf(found), floor: before });
  return found;
}

/** The roles `seen` holds below `floor`, as a refusal; undefined when none is. */
export function belowFloor(seen: RoleVersions, floor: RoleVersions): BelowFloor | undefined {
  for (const role of WATERMARKED_ROLES) {
    const found = seen[role];
    const highest = floor[role];
    if (found !== undefined && highest !== undefined && found < highest) return { role, found, highest };
  }
  return undefined;
}

/** A repository's watermarks as role versions. */
export function floorOf(marks: readonly MetadataWatermark[], repo: string): RoleVersions {
  const floor: RoleVersions = {};
  for (const m of marks) if (m.repo === repo) floor[m.role] = m.version;
  return floor;
}

/**
 * The API's floor. `beforeRead` is served from memory for `cacheMs` (a floor a moment old is
 * only less strict, never wrong; `forget` drops it when another replica says metadata was
 * published); `admit` writes to the store only when a role rose above what this replica last
 * confirmed, so a steady poll costs no store round trip. `published` only raises: it is
 * called with files the writer signed or MetadataFileSet.admitPublished verified, and a
 * report older than the floor is late, not a rollback of storage.
 */
export class StoreFloor implements VersionFloor {
  private cached: { at: number; marks: Promise<MetadataWatermark[]> } | undefined;

  constructor(
    private readonly marks: Watermarks,
    private readonly onRollback: (repo: string, below: BelowFloor) => void,
    private readonly cacheMs = 1000,
  ) {}

  async beforeRead(repo: string): Promise<RoleVersions> {
    if (!this.cached || Date.now() - this.cached.at >= this.cacheMs) {
      const marks = this.marks.list();
      this.cached = { at: Date.now(), marks };
      marks.catch(() => (this.cached = undefined));
    }
    return floorOf(await this.cached.marks, repo);
  }

  async admit(repo: string, { seen, floor, raise }: AdmittedRead): Promise<void> {
    const below = belowFloor(seen, floor);
    if (below) {
      await this.marks.recordRollback(repo, below.role, below.found);
      this.onRollback(repo, below);
      throw storageRollbackError(repo, below);
    }
    if (raise === false) return;
    let raised = false;
    for (const role of WATERMARKED_ROLES) {
      const version = seen[role];
      if (version === undefined || version <= (floor[role] ?? 0)) continue;
      await this.marks.raise(repo, role, version);
      raised = true;
    }
    if (raised) this.cached = undefined;
  }

  async published(repo: string, { versions }: Published): Promise<void> {
    for (const role of WATERMARKED_ROLES) await this.marks.raise(repo, role, versions[role]);
    this.cached = undefined;
  }

  /** Drops the floor held in memory: the next read takes it from the store. */
  forget(): void {
    this.cached = undefined;
  }
}

export function storageRollbackError(repo: string, { role, found, highest }: BelowFloor): ServerError {
  return new ServerError(
    'STORAGE_ROLLBACK',
    `storage holds ${repo} ${role} version ${found}, older than version ${highest} already seen: storage was rolled back or replaced; nothing is served or built on it until it is restored`,
  );
}
