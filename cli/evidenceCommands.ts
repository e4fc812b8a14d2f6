import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';

import { InputError } from '../common/errors';
import { TarError } from '../common/tar';
import { urlPath } from '../common/urlPath';
import type { AdminApiClient } from '../infra/adminApiClient';
import type { Config } from '../infra/config';
import {
  checkEvidence,
  type EvidenceAccount,
  type EvidenceDecision,
  EvidenceFileError,
  type EvidencePins,
} from '../transparency/evidenceCheck';
import { EVIDENCE_LIMITS } from '../transparency/evidenceFormat';
import { type Invocation, required } from './args';
import { policyOf } from './logCommands';

export interface EvidenceFlags {
  out?: string;
  key?: string;
  'fleet-ca'?: string;
  'release-root'?: string;
  'rollout-root'?: string;
}

/** `ota release evidence VERSION --out FILE`: the API assembles it; written whole or not at all. */
export async function releaseEvidence(
  api: AdminApiClient,
  release: { channel: string; version: string },
  call: Pick<Invocation<EvidenceFlags>, 'flags' | 'out'>,
): Promise<number> {
  const file = required(call.flags.out, '--out');
  call.out.progress(`collecting the evidence of ${release.channel}/${release.version}`);
  const bytes = await api.getBytes(
    `${urlPath`/v1/admin/releases/${release.channel}/${release.version}`}/evidence`,
    EVIDENCE_LIMITS.maxBytes,
  );
  await writeFile(`${file}.partial`, bytes);
  await rename(`${file}.partial`, file);
  call.out.result(
    { file, bytes: bytes.length },
    () => `wrote ${file} (${bytes.length} bytes): check it with ota evidence verify ${file}`,
  );
  return 0;
}

/**
 * `ota evidence verify FILE`: offline. The pins are the auditor's own (flags, or this machine's
 * configuration and ceremony folder); nothing in the file is trusted for them. Exit 1 on any finding.
 */
export async function evidenceVerify(config: Config, call: Invocation<EvidenceFlags>): Promise<number> {
  const file = required(call.args[0], 'FILE');
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(`no evidence file at ${file}`);
  // Untrusted input: its size is refused before a byte is read.
  if (info.size > EVIDENCE_LIMITS.maxBytes)
    throw new InputError(`${file} is not an evidence file: over ${EVIDENCE_LIMITS.maxBytes} bytes`);
  const pins = await pinsOf(call.flags, config);
  const archive = await readFile(file);
  let account: EvidenceAccount;
  try {
    account = checkEvidence(archive, pins);
  } catch (err) {
    if (err instanceof TarError || err instanceof EvidenceFileError)
      throw new InputError(`${file} is not an evidence file: ${err.message}`);
    throw err;
  }
  call.out.result(account, () => describeAccount(account));
  return account.ok ? 0 : 1;
}

async function pinsOf(flags: EvidenceFlags, config: Config): Promise<EvidencePins> {
  const caFile = flags['fleet-ca'] ?? config.identity.fleetCaCert;
  if (!existsSync(caFile)) throw new InputError(`no fleet CA certificate at ${caFile}: give --fleet-ca FILE`);
  const roots = {} as Record<RepositoryName, Buffer>;
  for (const repo of REPOSITORIES) {
    const given = repo === 'release' ? flags['release-root'] : flags['rollout-root'];
    const rootFile = given ?? join(config.ceremonyDir, `${repo}-root.json`);
    if (!existsSync(rootFile)) throw new InputError(`no trusted ${repo} root at ${rootFile}: give --${repo}-root FILE`);
    roots[repo] = await readFile(rootFile);
  }
  return {
    policy: await policyOf(flags, config),
    fleetCa: new X509Certificate(await readFile(caFile)),
    roots,
  };
}

function describeAccount(a: EvidenceAccount): string {
  const t = a.release.target;
  const lines = [
    `release ${a.release.channel}/${a.release.version}: ${t.name} (${t.length} bytes, sha256 ${t.sha256})`,
    `log ${a.log.origin} at ${a.log.size} entries${a.log.witnessedBy.length ? `, cosigned by ${a.log.witnessedBy.join(', ')}` : ''}`,
    ...a.metadata.map(
      (m) =>
        `${m.repository}: ${m.roots} root version(s) chained from the pinned root; signed in ${m.targets.join(', ') || 'no targets file'}`,
    ),
    'decisions:',
    ...a.decisions.map(describeDecision),
    `receipts: ${a.receipts.verified} of ${a.receipts.total} signed by devices the fleet CA certified`,
  ];
  if (a.ok) lines.push('evidence verified: every file is in the log at this checkpoint, and every receipt checks');
  else
    lines.push(
      `evidence FAILED: ${a.findings.length} finding(s)`,
      ...a.findings.map((f) => `  ${f.code} ${f.path}: ${f.detail}`),
    );
  return lines.join('\n');
}

function describeDecision(d: EvidenceDecision): string {
  const who = typeof d.detail['approver'] === 'string' ? ` by ${d.detail['approver']}` : '';
  const percent = typeof d.detail['percent'] === 'number' ? ` ${d.detail['percent']}%` : '';
  const reason = typeof d.detail['reason'] === 'string' ? ` (${d.detail['reason']})` : '';
  const counted = d.counted
    ? `: ${d.counted.devices} device receipt(s) counted, ${d.counted.healthy} healthy, ${d.counted.reverted} reverted`
    : '';
  return `  ${d.at} ${d.type.replace(/^release\./, '')}${percent}${who}${reason}${counted}`;
}
