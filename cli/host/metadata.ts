import { connectClient } from '../../control/temporal';
import { describeMetadataStatus, readMetadataStatus } from '../../control/metadataStatus';
import type { Config } from '../../infra/config';
import type { Output } from '../output';

/** `ota metadata status`: exit 1 when a role is about to expire or the Schedule is not running. */
export async function metadataStatus(config: Config, out: Output): Promise<number> {
  const client = await connectClient(config);
  try {
    const report = await readMetadataStatus(client, config);
    out.result(report, () => describeMetadataStatus(report));
    return report.healthy ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}
