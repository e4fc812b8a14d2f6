import type { RepositoryName } from '@enigm-ota/client-sdk';
import type { MetadataWatermark } from '../common/adminApi';
import type { AdminApi } from '../infra/apiClient';
import { rollback, WATERMARKED_ROLES, type RoleVersions, type VersionFloor } from '../trust/versionFloor';

/**
 * A worker's floor: before it builds on what it read from storage (a registration, a
 * rollout step, a re-signing), that state must be at least the highest the API replicas have
 * verified (the fleet store is theirs; PGlite is one process's). Only the API raises the
 * watermarks, from its own verified reads; a worker that cannot ask the API builds nothing
 * (the activity fails and is retried), since it could not tell a rolled-back storage.
 */
export class ApiFloor implements VersionFloor {
  constructor(private readonly api: AdminApi) {}

  async check(repo: RepositoryName, seen: RoleVersions): Promise<void> {
    const marks = await this.api.get<MetadataWatermark[]>('/v1/admin/metadata/watermarks');
    for (const role of WATERMARKED_ROLES) {
      const version = seen[role];
      const highest = marks.find((m) => m.repo === repo && m.role === role)?.version;
      if (version !== undefined && highest !== undefined && version < highest) throw rollback(repo, role, version, highest);
    }
  }
}
