import type { RepositoryName } from '@enigm-ota/client-sdk';
import type { Client } from '@temporalio/client';
import type { Metadata, Root } from '@tufjs/models';

import type { PolicyFile } from '../common/rolloutPolicy';
import type { AdminApiClient } from '../infra/adminApiClient';
import type { Storage } from '../infra/storage';
import type { MetadataRepository } from '../trust/metadataRepository';

/** What stage activities may touch; the worker wires real ones, unit tests may not need all. */
export interface ActivityDeps {
  storage: Storage;
  /** Both repositories, signing with the HSM keys their current root names. */
  repos: Record<RepositoryName, MetadataRepository>;
  trustedRoots: Record<RepositoryName, Metadata<Root>>;
  rolloutPolicy: PolicyFile;
  /** Partitioned metadata: stable releases per partition that stay offered (OTA_KEEP_STABLE_RELEASES). */
  retention: { keepStable: number };
  /** The API's admin side (a viewer token): it owns the fleet store (install and health reports). */
  api: AdminApiClient;
  /** To find and supersede other releases of a channel. */
  temporal: Client;
}
