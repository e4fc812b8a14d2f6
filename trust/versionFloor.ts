import type { MetadataWatermark } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { Watermarks } from '../infra/watermarks';

export const WATERMARKED_ROLES = ['timestamp', 'snapshot', 'targets'] as const;
export type WatermarkedRole = (typeof WATERMARKED_ROLES)[number];

/** The versions of a repository's roles one read of storage found (a role absent: not read). */
export type RoleVersions = Partial<Record<WatermarkedRole, number>>;

/**
 * Storage rollback noticed on the server (#10, S-25): devices refuse older metadata by
 * themselves, and this tells the servers. A floor knows the highest verified version of each
 * role seen so far, kept in the fleet store so it survives restarts and is shared by
 * replicas. A reader takes the floor *before* it reads storage (`before`) and then `admit`s
 * what it found: older than that floor is STORAGE_ROLLBACK. A version another reader raised
 * the floor to while this one was reading is not a rollback (storage moved on meanwhile), so
 * concurrent publishes never look like one. `raise: false` compares without raising (a file
 * that did not verify moves no watermark). The API keeps the floor (StoreFloor: its verified
 * reads raise it); a worker only compares with the API's (worker/apiFloor.ts).
 */
export interface VersionFloor {
  before(repo: string): Promise<RoleVersions>;
  admit(repo: string, seen: RoleVersions, floor: RoleVersions, options?: { raise?: boolean }): Promise<void>;
}

/** The roles `seen` holds below `floor`, as a refusal; undefined when none is. */
export function belowFloor(
  seen: RoleVersions,
  floor: RoleVersions,
): { role: WatermarkedRole; found: number; highest: number } | undefined {
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
 * The API's floor. `before` is served from memory for `cacheMs` (a floor a moment old is
 * only less strict, never wrong); `admit` writes to the store only when a role rose above
 * what this replica last confirmed, so a steady poll costs no store round trip.
 */
export class StoreFloor implements VersionFloor {
  private cached: { at: number; marks: Promise<MetadataWatermark[]> } | undefined;

  constructor(
    private readonly marks: Watermarks,
    private readonly onRollback: (repo: string, role: WatermarkedRole, found: number, highest: number) => void,
    private readonly cacheMs = 1000,
  ) {}

  async before(repo: string): Promise<RoleVersions> {
    if (!this.cached || Date.now() - this.cached.at >= this.cacheMs) {
      const marks = this.marks.list();
      this.cached = { at: Date.now(), marks };
      marks.catch(() => (this.cached = undefined));
    }
    return floorOf(await this.cached.marks, repo);
  }

  async admit(repo: string, seen: RoleVersions, floor: RoleVersions, options: { raise?: boolean } = {}): Promise<void> {
    const below = belowFloor(seen, floor);
    if (below) {
      await this.marks.recordRollback(repo, below.role, below.found);
      this.onRollback(repo, below.role, below.found, below.highest);
      throw rollback(repo, below.role, below.found, below.highest);
    }
    if (options.raise === false) return;
    let raised = false;
    for (const role of WATERMARKED_ROLES) {
      const version = seen[role];
      if (version === undefined || version <= (floor[role] ?? 0)) continue;
      await this.marks.raise(repo, role, version);
      raised = true;
    }
    if (raised) this.cached = undefined;
  }
}

export function rollback(repo: string, role: WatermarkedRole, found: number, highest: number): ServerError {
  return new ServerError(
    'STORAGE_ROLLBACK',
    `storage holds ${repo} ${role} version ${found}, older than version ${highest} already seen: storage was rolled back or replaced; nothing is served or built on it until it is restored`,
  );
}
