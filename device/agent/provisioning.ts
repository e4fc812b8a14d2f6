import { join } from 'node:path';

import { type DeviceConfig, loadIdentity, readCapped } from '@enigm-ota/client-sdk';
import type { PinnedLog } from '@enigm-ota/client-sdk/transparency';

import { type AgentConfig, ConfigError } from './config';

/** What the factory put on the device: trust anchors, and the one-time token until it enrolled. */
export interface Provisioned {
  trustedRoots: DeviceConfig['trustedRoots'];
  fleetCaPem: string;
  enrollmentToken?: string;
  transparencyLog?: DeviceConfig['transparencyLog'];
}

/** Bounds of the provisioned files (a root.json as the SDK bounds it, D-2). */
const MAX_ROOT_BYTES = 512 * 1024;
const MAX_CA_BYTES = 64 * 1024;
const MAX_TOKEN_BYTES = 4096;
/** A verifier key is one short line; 16 witnesses at most (the quorum's bound). */
const MAX_VKEY_BYTES = 1024;
const MAX_WITNESS_BYTES = 16 * MAX_VKEY_BYTES;

/**
 * The files the configuration names, each within its limit. A device without a certificate
 * and without a token could never reach the API: that is a configuration error at start.
 */
export async function loadProvisioning(config: AgentConfig): Promise<Provisioned> {
  const read = (key: keyof AgentConfig['identity'], max: number) =>
    readProvisioned(`identity.${key}`, config.identity[key], max);
  const provisioned: Provisioned = {
    trustedRoots: {
      release: await read('releaseRootFile', MAX_ROOT_BYTES),
      rollout: await read('rolloutRootFile', MAX_ROOT_BYTES),
    },
    fleetCaPem: (await read('fleetCaFile', MAX_CA_BYTES)).toString('utf8'),
  };
  const transparencyLog = await loadPinnedLog(config);
  if (transparencyLog) provisioned.transparencyLog = transparencyLog;
  if (!(await loadIdentity(join(config.stateDir, 'identity')))) {
    const token = (await read('enrollmentTokenFile', MAX_TOKEN_BYTES)).toString('utf8').trim();
    if (!token)
      throw new ConfigError([`identity.enrollmentTokenFile: ${config.identity.enrollmentTokenFile} is empty`]);
    provisioned.enrollmentToken = token;
  }
  return provisioned;
}

/** The transparency log the factory pinned, if any: its key and witnesses, each file within its limit. */
export async function loadPinnedLog(config: AgentConfig): Promise<PinnedLog | undefined> {
  const log = config.transparencyLog;
  if (!log.keyFile) {
    if (log.witnessesFile || log.quorum > 0)
      throw new ConfigError(['transparencyLog.witnessesFile and quorum need transparencyLog.keyFile']);
    return undefined;
  }
  if (log.witnessesFile && log.quorum === 0)
    throw new ConfigError([
      'transparencyLog.witnessesFile: set transparencyLog.quorum to how many of them must cosign',
    ]);
  const witnesses = log.witnessesFile
    ? (await readProvisioned('transparencyLog.witnessesFile', log.witnessesFile, MAX_WITNESS_BYTES))
        .toString('utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
  const key = await readProvisioned('transparencyLog.keyFile', log.keyFile, MAX_VKEY_BYTES);
  return { key: key.toString('utf8').trim(), witnesses, quorum: log.quorum };
}

async function readProvisioned(key: string, file: string, max: number): Promise<Buffer> {
  try {
    return await readCapped(file, max);
  } catch (err) {
    throw new ConfigError([`${key}: cannot read ${file}: ${(err as Error).message}`]);
  }
}
