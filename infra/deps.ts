import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { Client, Connection } from '@temporalio/client';
import { AdminApi } from './apiClient';
import type { ActivityDeps } from '../activities';
import { loadTrustedRoot } from './ceremony';
import { HsmKeys } from './keyring';
import { requireHsmPin, type Config } from './config';
import { Hsm } from './hsm';
import { loadPolicy } from './policy';
import { Storage } from './storage';
import { TufRepository } from './tufRepository';

/** Wires the real adapters behind the activities: MinIO, the HSM token, both repositories. */
export async function createActivityDeps(config: Config): Promise<ActivityDeps & { hsm: Hsm; close(): Promise<void> }> {
  const hsm = Hsm.open(config.hsm, requireHsmPin(config));
  const storage = new Storage(config.minio);
  const repos = {} as Record<RepositoryName, TufRepository>;
  const trustedRoots = {} as ActivityDeps['trustedRoots'];
  for (const repo of REPOSITORIES) {
    trustedRoots[repo] = await loadTrustedRoot(config, repo);
    repos[repo] = new TufRepository(repo, storage, trustedRoots[repo], config.expiry, new HsmKeys(hsm));
  }
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const api = AdminApi.fromConfig(config);
  const close = async () => {
    await api.close();
    await connection.close();
    hsm.close();
  };
  return { hsm, storage, repos, trustedRoots, policy: loadPolicy(), api, temporal, close };
}
