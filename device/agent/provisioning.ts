import { join } from 'node:path';

import { type DeviceConfig, loadIdentity, readCapped } from '@enigm-ota/client-sdk';

import { type AgentConfig, ConfigError } from './config';

/** What the factory put on the device: trust anchors, and the one-time token until it enrolled. */
export interface Provisioned {
  trustedRoots: DeviceConfig['trustedRoots'];
  fleetCaPem: string;
  enrollmentToken?: string;
}

/** Bounds of the provisioned files (a root.json as the SDK bounds it, D-2). */
const MAX_ROOT_BYTES = 512 * 1024;
const MAX_CA_BYTES = 64 * 1024;
const MAX_TOKEN_BYTES = 4096;

/**
 * The files the configuration names, each within its limit. A device without a certificate
 * and without a token could never reach the API: that is a configuration error at start.
 */
export async function loadProvisioning(config: AgentConfig): Promise<Provisioned> {
  const read = async (key: keyof AgentConfig['identity'], max: number) => {
    const file = config.identity[key];
    try {
      return await readCapped(file, max);
    } catch (err) {
      throw new ConfigError([`identity.${key}: cannot read ${file}: ${(err as Error).message}`]);
    }
  };
  const provisioned: Provisioned = {
    trustedRoots: {
      release: await read('releaseRootFile', MAX_ROOT_BYTES),
      rollout: await read('rolloutRootFile', MAX_ROOT_BYTES),
    },
    fleetCaPem: (await read('fleetCaFile', MAX_CA_BYTES)).toString('utf8'),
  };
  if (!(await loadIdentity(join(config.stateDir, 'identity')))) {
    const token = (await read('enrollmentTokenFile', MAX_TOKEN_BYTES)).toString('utf8').trim();
    if (!token)
      throw new ConfigError([`identity.enrollmentTokenFile: ${config.identity.enrollmentTokenFile} is empty`]);
    provisioned.enrollmentToken = token;
  }
  return provisioned;
}
