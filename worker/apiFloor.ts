import type { MetadataWatermark } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { AdminApiClient } from '../infra/adminApiClient';
import {
  type AdmittedRead,
  belowFloor,
  floorOf,
  type RoleVersions,
  storageRollbackError,
  type VersionFloor,
  WATERMARKED_ROLES,
} from '../trust/versionFloor';

/**
 * A worker's floor: before it builds on what it read from storage (a registration, a
 * rollout step, a re-signing), that state must be at least the highest the API replicas had
 * verified before the read (the fleet store is theirs; PGlite is one process's). Only the
 * API raises the watermarks, from its own verified reads. When the API cannot be reached,
 * the last watermarks this worker got stand in (they only ever rise), so re-signing goes on
 * through an API outage rather than letting metadata expire; a worker that never reached
 * the API builds nothing.
 */
export class ApiFloor implements VersionFloor {
  private last: MetadataWatermark[] | undefined;

  constructor(private readonly api: AdminApiClient) {}

  async beforeRead(repo: string): Promise<RoleVersions> {
    try {
      const marks = await this.api.get<MetadataWatermark[]>('/v1/admin/metadata/watermarks');
      this.last = marks;
    } catch (err) {
      if (!(err instanceof ServerError && err.code === 'UNAVAILABLE' && this.last)) throw err;
    }
    return floorOf(this.last, repo);
  }

  admit(repo: string, { seen, floor }: AdmittedRead): Promise<void> {
    const below = belowFloor(seen, floor);
    if (below) return Promise.reject(storageRollbackError(repo, below));
    // What this worker read is at least the floor: remember it, so an outage later compares with it.
    for (const role of WATERMARKED_ROLES) {
      const version = seen[role];
      const mark = this.last?.find((m) => m.repo === repo && m.role === role);
      if (mark && version !== undefined && version > mark.version) mark.version = version;
    }
    return Promise.resolve();
  }
}
