import type { MetadataWatermark } from '../../common/adminApi';
import { describeMetadataStatus, readMetadataStatus } from '../../control/metadataStatus';
import { connectClient } from '../../control/temporal';
import { AdminApiClient } from '../../infra/adminApiClient';
import type { Config } from '../../infra/config';
import type { Output } from '../output';

/**
 * `ota metadata status`: exit 1 when a role is about to expire, storage was rolled back or the
 * Schedule is not running.
 */
export async function metadataStatus(config: Config, out: Output): Promise<number> {
  const client = await connectClient(config);
  try {
    // The highest versions seen are the API's (its fleet store): asked over the admin API.
    const api = AdminApiClient.fromConfig(config);
    const report = await readMetadataStatus(client, config, () =>
      api.get<MetadataWatermark[]>('/v1/admin/metadata/watermarks'),
    ).finally(() => api.close());
    out.result(report, () => describeMetadataStatus(report));
    return report.healthy ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}
