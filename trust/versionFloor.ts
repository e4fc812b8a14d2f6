import type { RepositoryName } from '@enigm-ota/client-sdk';
import { ServerError } from '../common/errors';
import type { Watermarks } from '../infra/watermarks';

export const WATERMARKED_ROLES = ['timestamp', 'snapshot', 'targets'] as const;
export type WatermarkedRole = (typeof WATERMARKED_ROLES)[number];

/** The versions of a repository's roles one read of storage found (a role absent: not read). */
export type RoleVersions = Partial<Record<WatermarkedRole, number>>;

/**
 * Storage rollback noticed on the server (#10): devices refuse older metadata by themselves,
 * and this tells the servers. A floor knows the highest verified version of each role seen so
 * far, kept in the fleet store so it survives restarts and is shared by replicas; `check`
 * throws STORAGE_ROLLBACK when a read of storage found an older one. The API keeps the
 * floor (StoreFloor below: its verified reads raise it); a worker checks what it is about
 * to build on against the API's (worker/apiFloor.ts).
 */
export interface VersionFloor {
  check(repo: RepositoryName, seen: RoleVersions): Promise<void>;
}

/**
 * The API's floor: each verified read raises the watermarks, an older read is refused. A
 * version equal to one confirmed in the last `cacheMs` skips the store, so a poll costs a
 * store round trip only when storage changed (or once per `cacheMs` per role).
 */
export class StoreFloor implements VersionFloor {
  private readonly confirmed = new Map<string, { version: number; at: number }>();

  constructor(
    private readonly marks: Watermarks,
    private readonly onRollback: (repo: RepositoryName, role: WatermarkedRole, found: number, highest: number) => void,
    private readonly cacheMs = 1000,
  ) {}

  async check(repo: RepositoryName, seen: RoleVersions): Promise<void> {
    for (const role of WATERMARKED_ROLES) {
      const version = seen[role];
      if (version === undefined) continue;
      const key = `${repo}/${role}`;
      const known = this.confirmed.get(key);
      if (known && known.version === version && Date.now() - known.at < this.cacheMs) continue;
      const highest = await this.marks.observe(repo, role, version);
      this.confirmed.set(key, { version: highest, at: Date.now() });
      if (highest > version) {
        this.onRollback(repo, role, version, highest);
        throw rollback(repo, role, version, highest);
      }
    }
  }
}

export function rollback(repo: RepositoryName, role: WatermarkedRole, found: number, highest: number): ServerError {
  return new ServerError(
    'STORAGE_ROLLBACK',
    `storage holds ${repo} ${role} version ${found}, older than version ${highest} already seen: storage was rolled back or replaced; nothing is served or built on it until it is restored`,
  );
}
