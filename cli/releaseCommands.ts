import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';

import {
  type DeliverySummary,
  OPS_ACTIONS,
  type OpsAction,
  type ReleaseListItem,
  type TargetStats,
} from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import { parseWindowText } from '../common/installWindowText';
import type { ReleaseStatus, RolloutStep, Targeting } from '../common/release';
import { DOCUMENT_KINDS, type DocumentKind, MAX_DOCUMENT_BYTES } from '../common/releaseDocuments';
import { urlPath } from '../common/urlPath';
import {
  checkInstallWindows,
  checkPattern,
  checkVersion,
  MAX_ARTIFACT_BYTES,
  MAX_DELTA_BASES,
  parseDuration,
} from '../common/validation';
import type { AdminApiClient } from '../infra/adminApiClient';
import { type Invocation, numberFlag, parseTags, queryString, required } from './args';
import { releaseEvidence } from './evidenceCommands';
import { type Output, perPercent, progressBar } from './output';
import { describeList, describeStatus } from './releaseView';

export interface ReleaseFlags {
  artifact?: string;
  sbom?: string;
  provenance?: string;
  version?: string;
  hardware?: string;
  channel?: string;
  'rollback-index'?: string;
  steps?: string;
  bake?: string;
  'min-devices'?: string;
  'max-failure-rate'?: string;
  plan?: string;
  security?: boolean;
  stage?: string;
  to?: string;
  comment?: string;
  reason?: string;
  'min-source-version'?: string;
  deltas?: string;
  'attestation-required'?: boolean;
  protected?: boolean;
  'target-group'?: string[];
  'target-tag'?: string[];
  window?: string[];
  out?: string;
}

const path = (channel: string, version: string) => urlPath`/v1/admin/releases/${channel}/${version}`;

/** `ota release ...` through the admin API: who acts is the token's operator, checked there. */
export async function releaseCommand(api: AdminApiClient, call: Invocation<ReleaseFlags>): Promise<number> {
  const { command, args, flags, out } = call;
  if (command === 'list') {
    const query = queryString({ channel: flags.channel, stage: flags.stage });
    const releases = await api.get<ReleaseListItem[]>(`/v1/admin/releases?${query}`);
    out.result(releases, () => describeList(releases));
    return 0;
  }
  if (command === 'create') return create(api, flags, out);
  const version = checkVersion(required(args[0] ?? flags.version, 'VERSION'));
  const channel =
    flags.channel ??
    (await api.get<{ channel: string }>(`/v1/admin/releases/resolve?version=${encodeURIComponent(version)}`)).channel;
  if (command === 'evidence') return releaseEvidence(api, { channel, version }, call);
  let status: ReleaseStatus;
  if (command === 'status') status = await api.get<ReleaseStatus>(path(channel, version));
  else if (command === 'approve' || command === 'reject') {
    status = await api.send<ReleaseStatus>('POST', `${path(channel, version)}/${command}`, {
      comment: flags.comment ?? flags.reason,
    });
  } else if (OPS_ACTIONS.includes(command as OpsAction)) {
    if (flags.to !== undefined && command !== 'rollback') throw new InputError('--to is for rollback only');
    status = await api.send<ReleaseStatus>('POST', `${path(channel, version)}/${command}`, {
      reason: flags.reason,
      to: flags.to,
    });
  } else throw new InputError(`unknown release command: ${command ?? ''} (ota --help)`);
  const { devices, delivery } = status as ReleaseStatus & { devices?: TargetStats; delivery?: DeliverySummary };
  out.result(status, () => describeStatus(status, devices, delivery));
  return 0;
}

/** Checks the file here, streams it to the API (with progress), then asks for the release. */
async function create(api: AdminApiClient, flags: ReleaseFlags, out: Output): Promise<number> {
  const artifact = required(flags.artifact, '--artifact');
  const version = checkVersion(required(flags.version, '--version'));
  const channel = checkPattern('channel', required(flags.channel, '--channel'));
  const fileName = checkPattern('fileName', basename(artifact));
  const hardwareIds = required(flags.hardware, '--hardware').split(',');
  const rollbackIndex = flags['rollback-index'] === undefined ? 0 : Number(flags['rollback-index']);
  const info = await stat(artifact).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(`no artifact file at ${artifact}`);
  if (info.size === 0 || info.size > MAX_ARTIFACT_BYTES)
    throw new InputError(`artifact must have 1 byte to ${MAX_ARTIFACT_BYTES} bytes`);
  const steps = customSteps(flags);
  // Refused here, before the upload, with the rules the API and devices apply (D-19).
  const windows = flags.window?.map(parseWindowText);
  // Checked by the API before gigabytes are sent: a malformed SBOM stops the release here.
  const documents = await uploadDocuments(api, flags, out);
  // Refuse a release that exists before sending gigabytes.
  const existing = await api.get<ReleaseStatus>(path(channel, version)).catch((err: { code?: string }) => {
    if (err.code === 'NOT_FOUND') return undefined;
    throw err;
  });
  if (existing)
    throw new ServerError(
      'RELEASE_EXISTS',
      `release ${version} on channel ${channel} already exists (${existing.releaseId})`,
    );
  const upload = await api.upload<{ uploadKey: string }>(
    `/v1/admin/uploads?fileName=${encodeURIComponent(fileName)}`,
    artifact,
    perPercent((sent, total) => out.progress(`uploading ${progressBar(sent, total)}`)),
  );
  const created = await api.send<{ releaseId: string }>('POST', '/v1/admin/releases', {
    version,
    channel,
    hardwareIds,
    rollbackIndex,
    uploadKey: upload.uploadKey,
    ...(flags.plan !== undefined ? { plan: flags.plan } : {}),
    ...(steps ? { steps } : {}),
    security: flags.security ?? false,
    ...(flags['min-source-version'] !== undefined ? { minSourceVersion: flags['min-source-version'] } : {}),
    ...(flags.deltas !== undefined
      ? {
          deltaBases: numberFlag(flags.deltas, {
            name: '--deltas',
            fallback: 0,
            ok: (n) => Number.isSafeInteger(n) && n >= 0 && n <= MAX_DELTA_BASES,
          }),
        }
      : {}),
    ...(targeting(flags) ? { targeting: targeting(flags) } : {}),
    ...(windows?.length ? { windows: checkInstallWindows(windows) } : {}),
    ...(Object.keys(documents).length ? { documents } : {}),
  });
  out.result(
    created,
    () => `release ${created.releaseId} started; see ota release status ${version} --channel ${channel}`,
  );
  return 0;
}

/** --sbom FILE and --provenance FILE, each uploaded and checked: their digests, by kind. */
async function uploadDocuments(
  api: AdminApiClient,
  flags: ReleaseFlags,
  out: Output,
): Promise<Partial<Record<DocumentKind, string>>> {
  const digests: Partial<Record<DocumentKind, string>> = {};
  for (const kind of DOCUMENT_KINDS) {
    const file = flags[kind];
    if (file === undefined) continue;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile() || info.size === 0 || info.size > MAX_DOCUMENT_BYTES)
      throw new InputError(`--${kind} needs a JSON file of 1 byte to ${MAX_DOCUMENT_BYTES} bytes: ${file}`);
    out.progress(`checking the ${kind}`);
    const stored = await api.postBytes<{ sha256: string }>(
      `/v1/admin/documents?kind=${kind}`,
      await readFile(file),
      'application/json',
    );
    digests[kind] = stored.sha256;
  }
  return digests;
}

/**
 * --attestation-required, --protected, --target-group G, --target-tag k=v: who the rollout (and,
 * protected, its artifact) is for.
 */
function targeting(flags: ReleaseFlags): Targeting | undefined {
  const t: Targeting = {};
  if (flags['attestation-required']) t.attestationRequired = true;
  if (flags.protected) t.protected = true;
  if (flags['target-group']?.length) t.groups = flags['target-group'];
  if (flags['target-tag']?.length) t.tags = parseTags(flags['target-tag']);
  return Object.keys(t).length ? t : undefined;
}

/**
 * --steps 10,50,100 --bake 30s: a custom plan whose every step has a health gate: at least
 * --min-devices health reports (default 1) and at most --max-failure-rate failing (default
 * 0.1). A step passes without any report only when the plan says so: --min-devices 0.
 */
function customSteps(flags: ReleaseFlags): RolloutStep[] | undefined {
  if (flags.steps === undefined) {
    if (flags['min-devices'] !== undefined || flags['max-failure-rate'] !== undefined)
      throw new InputError('--min-devices and --max-failure-rate go with --steps');
    return undefined;
  }
  const bakeTimeMs = parseDuration(flags.bake ?? '30s');
  const minDevices = numberFlag(flags['min-devices'], {
    name: '--min-devices',
    fallback: 1,
    ok: (n) => Number.isSafeInteger(n) && n >= 0,
  });
  const maxFailureRate = numberFlag(flags['max-failure-rate'], {
    name: '--max-failure-rate',
    fallback: 0.1,
    ok: (n) => n >= 0 && n <= 1,
  });
  return flags.steps
    .split(',')
    .map((p) => ({ percent: Number(p), bakeTimeMs, minDevices, maxFailureRate, gate: 'auto' as const }));
}
