import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, MetadataKind, Root } from '@tufjs/models';
import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { ServerError } from '../common/errors';
import type { Config } from './config';
import { HSM_KEYS, type Hsm } from './hsm';
import type { Storage } from './storage';
import { OfflineSigner, signMetadata } from './tufKeys';
import { SPEC_VERSION, TufRepository, type RoleSigners } from './tufRepository';

export interface CeremonyResult {
  created: RepositoryName[];
  rootFiles: Record<RepositoryName, string>;
  offlineKeyFiles: string[];
}

/** The online keys each repository's roles use. Root keys are offline (ceremony files). */
export function roleSigners(hsm: Hsm, repo: RepositoryName): RoleSigners {
  const online = hsm.signer(HSM_KEYS.online);
  const targets = hsm.signer(repo === 'release' ? HSM_KEYS.releaseTargets : HSM_KEYS.rolloutTargets);
  return { targets, snapshot: online, timestamp: online };
}

export function rootFile(config: Config, repo: RepositoryName): string {
  return join(config.ceremonyDir, `${repo}-root.json`);
}

/** The trusted root as provisioned from the ceremony; storage's copy is never the trust anchor. */
export async function loadTrustedRoot(config: Config, repo: RepositoryName): Promise<Metadata<Root>> {
  const file = rootFile(config, repo);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ServerError('CONFIG_INVALID', `trusted root ${file} is missing (run the key ceremony: ota keys init)`, { cause: err });
  }
  const root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(text)) as Metadata<Root>;
  root.verifyDelegate('root', root);
  return root;
}

/**
 * Key ceremony, idempotent: HSM keys for release targets, rollout targets and the online
 * roles are generated inside the token; each repository gets an offline Ed25519 root key
 * (node-forge) whose private half is written for offline storage; the first root of each
 * repository is signed and published with empty targets.
 */
export async function runCeremony(config: Config, hsm: Hsm, storage: Storage): Promise<CeremonyResult> {
  for (const label of Object.values(HSM_KEYS)) hsm.generate(label);
  await storage.ensureBuckets();
  await mkdir(join(config.ceremonyDir, 'offline'), { recursive: true, mode: 0o700 });
  const result: CeremonyResult = { created: [], rootFiles: { release: '', rollout: '' }, offlineKeyFiles: [] };
  for (const repo of REPOSITORIES) {
    const file = rootFile(config, repo);
    result.rootFiles[repo] = file;
    const signers = roleSigners(hsm, repo);
    if (!existsSync(file)) {
      if (await storage.stat('metadata', `${repo}/1.root.json`)) {
        throw new ServerError('CONFIG_INVALID', `${repo} repository exists in storage but ${file} is missing; restore it from the offline copy`);
      }
      const offline = OfflineSigner.generate();
      const keyFile = join(config.ceremonyDir, 'offline', `${repo}-root.key`);
      await writeFile(keyFile, `${offline.toHex()}\n`, { mode: 0o600 });
      await chmod(keyFile, 0o600);
      result.offlineKeyFiles.push(keyFile);
      const root = new Root({
        specVersion: SPEC_VERSION,
        version: 1,
        expires: new Date(Date.now() + config.expiry.rootDays * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        consistentSnapshot: true,
      });
      root.addKey(offline.key, 'root');
      root.addKey(signers.targets.key, 'targets');
      root.addKey(signers.snapshot.key, 'snapshot');
      root.addKey(signers.timestamp.key, 'timestamp');
      const md = new Metadata(root);
      signMetadata(md, [offline]);
      await writeFile(file, JSON.stringify(md.toJSON(), null, 1));
      result.created.push(repo);
    }
    const trusted = await loadTrustedRoot(config, repo);
    await new TufRepository(repo, storage, trusted, config.expiry).initialize(JSON.stringify(trusted.toJSON(), null, 1), signers);
  }
  return result;
}
