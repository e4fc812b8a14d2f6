import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { Metadata, Root } from '@tufjs/models';

import { InputError, ServerError } from '../common/errors';
import { ceremonyFiles, type Config } from '../infra/config';
import { FleetCa, fleetCaToken } from '../infra/fleetCa';
import type { Hsm } from '../infra/hsm';
import type { Storage } from '../infra/storage';
import { TransparencyLog } from '../infra/transparencyLog';
import { ensureBundleSigning } from './bundleSigning';
import { HsmKeys, shortKeyId, type TufRole } from './keyring';
import { LAYOUT_FIELD, PARTITIONED_LAYOUT } from './layout';
import { MetadataRepository } from './metadataRepository';
import { expiresIn, SPEC_VERSION } from './roleMetadata';
import { parseRoot, withThreshold } from './rootChain';
import { ed25519Signer, OfflineSigner, signMetadata, type TufSigner } from './tufKeys';
import type { VersionFloor } from './versionFloor';

/** How many keys each role starts with, and how many must sign. */
export interface CeremonyOptions {
  rootKeys: number;
  rootThreshold: number;
  releaseKeys: number;
  releaseThreshold: number;
}

// No single offline key can change a root, and no single release key can sign a release.
export const DEFAULT_CEREMONY: CeremonyOptions = { rootKeys: 3, rootThreshold: 2, releaseKeys: 3, releaseThreshold: 2 };
export const MAX_KEYS_PER_ROLE = 9;

export interface CeremonyResult {
  created: RepositoryName[];
  /** The fleet CA devices are provisioned with (it also signs the API's TLS certificate). */
  fleetCa: string;
  fleetCaCreated: boolean;
  rootFiles: Record<RepositoryName, string>;
  offlineKeyFiles: string[];
  /** The RAUC keyring devices are provisioned with (the bundle-signing CA), and whether this run made it. */
  bundleKeyring: string;
  bundleSigningCreated: boolean;
}

export function rootFile(config: Config, repo: RepositoryName): string {
  return join(config.ceremonyDir, `${repo}-root.json`);
}

export function offlineDir(config: Config): string {
  return join(config.ceremonyDir, 'offline');
}

/**
 * The root devices are provisioned with (the newest one `ota keys` made; devices with an
 * older one follow the chain in storage). Storage's copy is never the trust anchor.
 */
export async function loadTrustedRoot(config: Config, repo: RepositoryName): Promise<Metadata<Root>> {
  const file = rootFile(config, repo);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ServerError('CONFIG_INVALID', `trusted root ${file} is missing (run the key ceremony: ota keys init)`, {
      cause: err,
    });
  }
  const root = parseRoot(text);
  root.verifyDelegate('root', root);
  return root;
}

export async function saveTrustedRoot(config: Config, repo: RepositoryName, root: Metadata<Root>): Promise<void> {
  const file = rootFile(config, repo);
  await writeFile(`${file}.tmp`, JSON.stringify(root.toJSON(), null, 1));
  await rename(`${file}.tmp`, file);
}

/**
 * A repository that signs with the HSM's keys, starting from the provisioned root; with a
 * floor, storage rollback is checked and what is published raised to (S-25).
 */
export async function openRepository(
  config: Config,
  open: { storage: Storage; repo: RepositoryName; hsm?: Hsm; floor?: VersionFloor },
): Promise<MetadataRepository> {
  return new MetadataRepository({
    name: open.repo,
    storage: open.storage,
    root: await loadTrustedRoot(config, open.repo),
    expiry: config.expiry,
    ...(open.hsm ? { keys: new HsmKeys(open.hsm) } : {}),
    ...(open.hsm && config.transparency ? { log: new TransparencyLog(config.transparency) } : {}),
    ...(open.floor ? { floor: open.floor } : {}),
  });
}

/** An online key made inside the token; the label is for people, roles use the key id. */
export function newHsmKey(hsm: Hsm, repo: RepositoryName, role: TufRole): TufSigner {
  return ed25519Signer(hsm.generate(`${repo}-${role}-${randomBytes(4).toString('hex')}`));
}

/** An offline root key (node-forge); its private half is written once, for offline storage. */
export async function newOfflineKey(
  config: Config,
  repo: RepositoryName,
): Promise<{ signer: OfflineSigner; file: string }> {
  await mkdir(offlineDir(config), { recursive: true, mode: 0o700 });
  const signer = OfflineSigner.generate();
  const file = join(offlineDir(config), `${repo}-root-${shortKeyId(signer.key.keyID)}.key`);
  await writeFile(file, `${signer.toHex()}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return { signer, file };
}

export function checkCeremonyOptions(o: CeremonyOptions): void {
  for (const [keys, threshold, what] of [
    [o.rootKeys, o.rootThreshold, 'root'],
    [o.releaseKeys, o.releaseThreshold, 'release'],
  ] as const) {
    if (!Number.isInteger(keys) || keys < 1 || keys > MAX_KEYS_PER_ROLE)
      throw new InputError(`--${what}-keys must be 1..${MAX_KEYS_PER_ROLE}`);
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > keys)
      throw new InputError(`--${what}-threshold must be 1..${keys}`);
  }
}

/**
 * Key ceremony, idempotent: for each repository that has no root yet, offline root keys
 * (node-forge, written for offline storage) and HSM keys for the online roles (made inside
 * the token), the first root signed by every root key, and an empty signed repository;
 * and the fleet CA (device certificates, the API's TLS certificate for `apiHosts`), its key
 * in the fleet CA's own token; and the RAUC bundle-signing CA and certificate (bundleSigning.ts).
 * The release repository's targets role gets `releaseKeys` HSM keys with a threshold.
 */
export async function runCeremony(
  config: Config,
  run: { hsm: Hsm; storage: Storage; options?: CeremonyOptions; apiHosts?: string[] },
): Promise<CeremonyResult> {
  const { hsm, storage, options = DEFAULT_CEREMONY, apiHosts = ['127.0.0.1', 'localhost'] } = run;
  checkCeremonyOptions(options);
  await storage.ensureBuckets();
  // S-23: the CA's key is made in its own token (OTA_FLEET_CA_TOKEN), never in a file.
  const files = ceremonyFiles(config.ceremonyDir);
  const { ca, created: fleetCaCreated } = await FleetCa.ensure(files, { apiHosts, token: fleetCaToken(config) });
  ca.close();
  const result: CeremonyResult = {
    created: [],
    fleetCa: files.caCert,
    fleetCaCreated,
    rootFiles: { release: '', rollout: '' },
    ...(await bundleSigning(config)),
  };
  for (const repo of REPOSITORIES) {
    const file = rootFile(config, repo);
    result.rootFiles[repo] = file;
    if (!existsSync(file)) {
      if (await storage.stat('metadata', `${repo}/1.root.json`)) {
        throw new ServerError(
          'CONFIG_INVALID',
          `${repo} repository exists in storage but ${file} is missing; restore it from the offline copy`,
        );
      }
      // New repositories start in the configured layout (trust/layout.ts), announced by their first root.
      const layout =
        config.metadataLayout === 'partitioned' ? { unrecognizedFields: { [LAYOUT_FIELD]: PARTITIONED_LAYOUT } } : {};
      let root = new Root({
        specVersion: SPEC_VERSION,
        version: 1,
        expires: rootExpiry(config),
        consistentSnapshot: true,
        ...layout,
      });
      const rootSigners: TufSigner[] = [];
      for (let i = 0; i < options.rootKeys; i++) {
        const offline = await newOfflineKey(config, repo);
        result.offlineKeyFiles.push(offline.file);
        rootSigners.push(offline.signer);
        root.addKey(offline.signer.key, 'root');
      }
      const targetKeys = repo === 'release' ? options.releaseKeys : 1;
      for (let i = 0; i < targetKeys; i++) root.addKey(newHsmKey(hsm, repo, 'targets').key, 'targets');
      root.addKey(newHsmKey(hsm, repo, 'snapshot').key, 'snapshot');
      root.addKey(newHsmKey(hsm, repo, 'timestamp').key, 'timestamp');
      root = withThreshold(root, 'root', options.rootThreshold);
      if (repo === 'release') root = withThreshold(root, 'targets', options.releaseThreshold);
      const md = new Metadata(root);
      signMetadata(md, rootSigners);
      await saveTrustedRoot(config, repo, md);
      result.created.push(repo);
    }
    const trusted = await loadTrustedRoot(config, repo);
    await (await openRepository(config, { storage, repo, hsm })).initialize(JSON.stringify(trusted.toJSON(), null, 1));
  }
  return result;
}

/** The RAUC bundle-signing CA and certificate (made once); a new CA key goes to the offline folder. */
async function bundleSigning(
  config: Config,
): Promise<Pick<CeremonyResult, 'offlineKeyFiles' | 'bundleKeyring' | 'bundleSigningCreated'>> {
  const { files, created } = await ensureBundleSigning(config.ceremonyDir);
  return { offlineKeyFiles: created ? [files.caKey] : [], bundleKeyring: files.keyring, bundleSigningCreated: created };
}

export function rootExpiry(config: Config): string {
  return expiresIn(config.expiry.rootDays * 24);
}
