import { join } from 'node:path';

import { gaveUpOn, readCappedIfPresent, readDeviceState } from '@enigm-ota/client-sdk';
import { keptCheckpoint, parseVerifierKey } from '@enigm-ota/client-sdk/transparency';

import type { AgentConfig } from './config';
import { installerFor } from './installers';
import { type LockHolder, lockHolder } from './lock';
import { silentLog } from './log';
import { type CycleRecord, LAST_CYCLE_FILE } from './program';
import { loadPinnedLog } from './provisioning';
import { AGENT_VERSION } from './version';

const MAX_RECORD_BYTES = 64 * 1024;

export interface AgentStatus {
  agentVersion: string;
  device: {
    deviceId: string;
    hardwareId: string;
    channel: string;
    apiUrl: string;
    installer: string;
    stateDir: string;
  };
  /** The process holding the state directory (the service, or a check-now), if any. */
  process: LockHolder | null;
  /** The confirmed version that boots now, as the installer says (null: the factory image). */
  running: string | null;
  stored: { currentVersion: string; rollbackIndex: number } | null;
  pending: { targetName: string; version: string; rollbackIndex: number } | null;
  /** Targets the device gave up on after their trials were reverted: refused (TARGET_REVERTED) when offered. */
  gaveUp: string[];
  lastCycle: CycleRecord | null;
  /**
   * The newest transparency log checkpoint this device verified (null: the device checks no
   * log; `size` null: none verified yet): what an operator compares with `ota log status`.
   */
  transparencyLog: { origin: string; size: number | null; rootHash: string | null; witnessedBy: string[] } | null;
  /** What could not be read (a damaged state.json stops every install: D-10). */
  problems: string[];
}

/** Read-only: status never changes the state directory, so it is safe while the service runs. */
export async function agentStatus(config: AgentConfig): Promise<AgentStatus> {
  const problems: string[] = [];
  const attempt = async <T>(what: string, read: () => Promise<T>): Promise<T | null> => {
    try {
      return await read();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
      return null;
    }
  };
  const state = await attempt('state.json', () =>
    readDeviceState(config.stateDir, {
      currentVersion: config.factory.version,
      rollbackIndex: config.factory.rollbackIndex,
    }),
  );
  const running = await attempt(
    'installer',
    async () => (await installerFor(config, { log: silentLog }).running()).version ?? null,
  );
  const lastCycle = await attempt(LAST_CYCLE_FILE, async () => {
    const text = await readCappedIfPresent(join(config.stateDir, LAST_CYCLE_FILE), MAX_RECORD_BYTES);
    return text ? (JSON.parse(text.toString('utf8')) as CycleRecord) : null;
  });
  const transparencyLog = await attempt('log.json', async () => {
    const pinned = await loadPinnedLog(config);
    if (!pinned) return null;
    const kept = keptCheckpoint(config.stateDir, pinned);
    return {
      origin: parseVerifierKey(pinned.key).name,
      size: kept?.size ?? null,
      rootHash: kept?.root.toString('hex') ?? null,
      witnessedBy: kept?.witnessedBy ?? [],
    };
  });
  const { deviceId, hardwareId, channel, apiUrl, stateDir } = config;
  return {
    agentVersion: AGENT_VERSION,
    device: { deviceId, hardwareId, channel, apiUrl, installer: config.installer.backend, stateDir },
    process: (await attempt('agent.lock', () => lockHolder(config.stateDir))) ?? null,
    running: running ?? null,
    stored: state ? { currentVersion: state.currentVersion, rollbackIndex: state.rollbackIndex } : null,
    pending: state?.pending
      ? {
          targetName: state.pending.targetName,
          version: state.pending.version,
          rollbackIndex: state.pending.rollbackIndex,
        }
      : null,
    gaveUp: state ? [...new Set(state.reverted)].filter((name) => gaveUpOn(state, name)) : [],
    lastCycle,
    transparencyLog,
    problems,
  };
}

/** The status for a person. */
export function describeStatus(s: AgentStatus): string {
  const c = s.lastCycle;
  const lines = [
    `enigm-ota-agent ${s.agentVersion}: ${s.device.deviceId} (${s.device.hardwareId}) on channel ${s.device.channel}`,
    `api:        ${s.device.apiUrl}`,
    `installer:  ${s.device.installer}; state in ${s.device.stateDir}`,
    `process:    ${s.process ? `${s.process.command} (pid ${s.process.pid}, since ${s.process.since})` : 'none'}`,
    `running:    ${s.running ?? 'the factory image'}`,
    `stored:     ${s.stored ? `${s.stored.currentVersion} (rollback index ${s.stored.rollbackIndex})` : 'unreadable'}`,
    `pending:    ${s.pending ? `${s.pending.version} (${s.pending.targetName})` : 'none'}`,
    `gave up on: ${s.gaveUp.length > 0 ? s.gaveUp.join(', ') : 'none'}`,
    `last cycle: ${c ? `${c.status}${c.code ? ` ${c.code}` : ''} at ${c.endedAt}${c.target ? ` (${c.target})` : ''}` : 'none yet'}`,
    `log:        ${describeLog(s.transparencyLog)}`,
    ...s.problems.map((p) => `problem:    ${p}`),
  ];
  return `${lines.join('\n')}\n`;
}

function describeLog(log: AgentStatus['transparencyLog']): string {
  if (!log) return 'not checked';
  if (log.size === null) return `${log.origin}: no checkpoint verified yet`;
  const witnesses = log.witnessedBy.length > 0 ? `, witnessed by ${log.witnessedBy.join(', ')}` : '';
  return `${log.origin} at ${log.size} entries (root ${log.rootHash})${witnesses}`;
}
