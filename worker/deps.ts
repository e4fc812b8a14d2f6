import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { Client, Connection } from '@temporalio/client';

import type { ActivityDeps } from '../activities';
import { AdminApiClient } from '../infra/adminApiClient';
import { type Config, requireHsmPin } from '../infra/config';
import { Hsm } from '../infra/hsm';
import { Storage } from '../infra/storage';
import { metadataLog } from '../infra/transparencyLog';
import { ApiFloor } from '../trust/apiFloor';
import { loadTrustedRoot } from '../trust/ceremony';
import { HsmKeys } from '../trust/keyring';
import { MetadataRepository } from '../trust/metadataRepository';

/** Wires the real adapters behind the activities: MinIO, the HSM token, both repositories. */
export async function createActivityDeps(config: Config): Promise<ActivityDeps & { hsm: Hsm; close(): Promise<void> }> {
  const hsm = Hsm.open(config.hsm, requireHsmPin(config));
  const storage = new Storage(config.minio);
  const repos = {} as Record<RepositoryName, MetadataRepository>;
  const trustedRoots = {} as ActivityDeps['trustedRoots'];
  const api = AdminApiClient.fromConfig(config);
  const floor = new ApiFloor(api);
  const log = metadataLog(config);
  for (const repo of REPOSITORIES) {
    trustedRoots[repo] = await loadTrustedRoot(config, repo);
    repos[repo] = new MetadataRepository({
      name: repo,
      storage,
      root: trustedRoots[repo],
      expiry: config.expiry,
      keys: new HsmKeys(hsm),
      floor,
      ...(log && { log }),
    });
  }
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const close = async () => {
    await api.close();
    await connection.close();
    hsm.close();
  };
  return {
    hsm,
    storage,
    repos,
    trustedRoots,
    rolloutPolicy: config.rolloutPolicy,
    retention: config.retention,
    api,
    temporal,
    close,
  };
}
