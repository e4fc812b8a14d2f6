import type { MetadataWatermark } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { AdminApiClient } from '../infra/adminApiClient';
import {
  type AdmittedRead,
  belowFloor,
  floorOf,
  type Published,
  type RoleVersions,
  storageRollbackError,
  type VersionFloor,
  WATERMARKED_ROLES,
} from './versionFloor';

/**
 * The floor of a writer that has no fleet store (a worker, `ota keys`): before it builds on
 * what it read from storage (a registration, a rollout step, a re-signing, a key change), that
 * state must be at least the highest the API replicas had verified before the read (the fleet
 * store is theirs; PGlite is one process's). What it publishes it reports to the API before it
 * reports success (`published`): the API verifies the signed files, raises the watermarks to
 * them and tells every replica, so an older timestamp put back at once is refused even though
 * no API read the new one. When the API cannot be reached, reads compare with the last
 * watermarks this writer got (they only ever rise), so re-signing goes on through an API
 * outage rather than letting metadata expire; the report fails, and the activity retries it.
 * A writer that never reached the API builds nothing.
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

  async published(_repo: string, files: Published): Promise<void> {
    const body = {
      repo: files.repo,
      ...(files.partition === undefined ? {} : { partition: files.partition }),
      timestamp: files.timestamp.toString('base64'),
      snapshot: files.snapshot.toString('base64'),
    };
    try {
      this.last = await this.api.send<MetadataWatermark[]>('POST', '/v1/admin/metadata/published', body);
    } catch (err) {
      // An API older than this writer has no such route: retried until the replicas are upgraded,
      // not a permanent failure of the release.
      if (err instanceof ServerError && (err.code === 'NOT_FOUND' || err.code === 'METHOD_NOT_ALLOWED'))
        throw new ServerError('UNAVAILABLE', 'the API takes no publication reports: upgrade the API replicas first', {
          cause: err,
        });
      throw err;
    }
  }
}
