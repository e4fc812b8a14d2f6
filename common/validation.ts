import { installWindowsProblem } from '@enigm-ota/client-sdk/installWindows';
import { isSemver } from '@enigm-ota/client-sdk/semver';
import { isGroupList, isTagMap } from '@enigm-ota/client-sdk/targeting';

import { InputError } from './errors';
import type { ApproveInput, OpsInput } from './messages';
import type { ChannelPolicy, ReleaseSpec, RolloutStep } from './release';

/** Identifier rules, shared by CLI, API schemas and workflow validators. */
export const patterns = {
  channel: '^[a-z0-9][a-z0-9-]{0,31}$',
  hardwareId: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  deviceId: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  fileName: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
  actor: '^[^\\u0000-\\u001f]{1,100}$',
  plan: '^[a-z][a-z0-9-]{0,31}$',
  operatorName: '^[a-z][a-z0-9._-]{0,63}$',
  sha256: '^[0-9a-f]{64}$',
} as const;

/** Each pattern compiled once: identifiers are checked on every request. */
const compiled = Object.fromEntries(Object.entries(patterns).map(([kind, p]) => [kind, new RegExp(p)])) as Record<
  keyof typeof patterns,
  RegExp
>;

/** Whether `value` is a string that matches the identifier rule `kind`. */
export function matches(kind: keyof typeof patterns, value: unknown): value is string {
  return typeof value === 'string' && compiled[kind].test(value);
}

const limits = { maxHardwareIds: 32, maxSteps: 20, maxComment: 1000, maxRollbackIndex: 2 ** 31 - 1 } as const;

export function checkPattern(kind: keyof typeof patterns, value: unknown): string {
  if (!matches(kind, value)) {
    throw new InputError(`invalid ${kind}: ${JSON.stringify(value)?.slice(0, 80)} (must match ${patterns[kind]})`);
  }
  return value;
}

export function checkVersion(value: unknown): string {
  if (typeof value !== 'string' || !isSemver(value)) {
    throw new InputError(`invalid version: ${JSON.stringify(value)?.slice(0, 80)} (must be semantic, like 1.4.2)`);
  }
  return value;
}

export function checkHardwareIds(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > limits.maxHardwareIds) {
    throw new InputError(`hardware ids: give 1 to ${limits.maxHardwareIds}`);
  }
  const ids = value.map((v) => checkPattern('hardwareId', v));
  if (new Set(ids).size !== ids.length) throw new InputError('hardware ids must not repeat');
  return ids;
}

export function checkRollbackIndex(value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > limits.maxRollbackIndex) {
    throw new InputError(
      `invalid rollback index: ${String(value).slice(0, 40)} (a whole number 0..${limits.maxRollbackIndex})`,
    );
  }
  return value as number;
}

/** Percent steps must rise strictly and end at 100, so a rollout always completes. */
export function checkSteps(steps: RolloutStep[]): RolloutStep[] {
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > limits.maxSteps)
    throw new InputError(`give 1 to ${limits.maxSteps} rollout steps`);
  let last = 0;
  for (const s of steps) {
    if (!(typeof s.percent === 'number' && s.percent > last && s.percent <= 100)) {
      throw new InputError('rollout percents must rise strictly within 0 < p <= 100');
    }
    if (!Number.isSafeInteger(s.bakeTimeMs) || s.bakeTimeMs < 0) throw new InputError('bake time must be a duration');
    if (!Number.isSafeInteger(s.minDevices) || s.minDevices < 0)
      throw new InputError('minDevices must be a whole number >= 0');
    if (typeof s.maxFailureRate !== 'number' || !(s.maxFailureRate >= 0 && s.maxFailureRate <= 1)) {
      throw new InputError('maxFailureRate must be between 0 and 1');
    }
    if (s.gate !== 'auto' && s.gate !== 'approval') throw new InputError("gate must be 'auto' or 'approval'");
    last = s.percent;
  }
  if (last !== 100) throw new InputError('the last rollout step must be 100%');
  return steps;
}

const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '30s', '5m', '2d' -> milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new InputError(`invalid duration ${JSON.stringify(text)} (like 500ms, 30s, 5m, 2h, 1d)`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** Largest build accepted at intake; the same as the SDK's default device limit. */
export const MAX_ARTIFACT_BYTES = 4 * 1024 ** 3;

/** Everything a release start must satisfy, whoever starts it (CLI, UI, another client). */
export function checkReleaseSpec(spec: ReleaseSpec): void {
  if (typeof spec !== 'object' || spec === null) throw new InputError('release input must be an object');
  checkVersion(spec.version);
  checkPattern('channel', spec.channel);
  checkHardwareIds(spec.hardwareIds);
  checkRollbackIndex(spec.rollbackIndex);
  checkPattern('fileName', spec.fileName);
  checkPattern('actor', spec.createdBy);
  if (typeof spec.intakeKey !== 'string' || spec.intakeKey.length === 0 || spec.intakeKey.length > 512) {
    throw new InputError('intakeKey must be an object key');
  }
  checkPattern('plan', spec.plan);
  if (
    spec.historyLimit !== undefined &&
    !(Number.isSafeInteger(spec.historyLimit) && spec.historyLimit >= 200 && spec.historyLimit <= 50_000)
  ) {
    throw new InputError('historyLimit must be 200..50000');
  }
  checkSteps(Array.isArray(spec.steps) ? spec.steps : []);
  if (spec.minSourceVersion !== undefined && !isSemver(spec.minSourceVersion))
    throw new InputError('minSourceVersion must be a semantic version');
  checkTargeting(spec.targeting);
  checkDeltaBases(spec.deltaBases);
  checkInstallWindows(spec.windows);
  checkDocuments(spec);
}

const SHA256 = /^[0-9a-f]{64}$/;

/** The documents' references as the API made them: digests, sizes, formats; subjects are digests. */
function checkDocuments(spec: ReleaseSpec): void {
  for (const [kind, ref] of Object.entries(spec.documents ?? {})) {
    if (!['sbom', 'provenance'].includes(kind) || typeof ref !== 'object' || ref === null)
      throw new InputError(`documents: no kind ${kind.slice(0, 20)}`);
    if (!SHA256.test(String(ref.sha256)) || !Number.isSafeInteger(ref.length) || ref.length < 1)
      throw new InputError(`documents.${kind} needs a sha256 and a length`);
    if (!['cyclonedx', 'spdx', 'in-toto'].includes(ref.format))
      throw new InputError(`documents.${kind}: unknown format`);
  }
  const subjects = spec.provenanceSubjects ?? [];
  if (!Array.isArray(subjects) || subjects.length > 1000 || !subjects.every((s) => SHA256.test(String(s))))
    throw new InputError('provenanceSubjects must be at most 1000 sha256 digests');
}

/**
 * D-19: install windows by the rules a device applies to the signed field, so a release the
 * server accepts never carries windows a device refuses (a zone the server's Intl does not
 * know is refused here; a device with older time zone data refuses it as METADATA_INVALID).
 */
export function checkInstallWindows<T>(windows: T): T {
  if (windows === undefined) return windows;
  const problem = installWindowsProblem(windows);
  if (problem) throw new InputError(problem);
  return windows;
}

export const MAX_DELTA_BASES = 8;

/** How many earlier releases a release gets delta updates from (a plan's `deltaBases`). */
export function checkDeltaBases(n: unknown): number | undefined {
  if (n === undefined) return undefined;
  if (!(Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= MAX_DELTA_BASES))
    throw new InputError(`deltaBases must be 0..${MAX_DELTA_BASES}`);
  return n as number;
}

/** The same shape rules devices and the API apply to the signed fields. */
function checkTargeting(t: ReleaseSpec['targeting']): void {
  if (t === undefined) return;
  if (typeof t !== 'object' || t === null) throw new InputError('targeting must be an object');
  if (t.attestationRequired !== undefined && typeof t.attestationRequired !== 'boolean')
    throw new InputError('attestationRequired must be true or false');
  if (t.protected !== undefined && typeof t.protected !== 'boolean')
    throw new InputError('protected must be true or false');
  if (t.groups !== undefined && !isGroupList(t.groups))
    throw new InputError('target groups: 1 to 32 distinct names (letters, digits, ".", "_", ":", "-")');
  if (t.tags !== undefined && !isTagMap(t.tags))
    throw new InputError('target tags: up to 32 key=value pairs (values up to 128 characters)');
}

/** A policy file's channel entry must make sense before any release uses it. */
export function checkChannelPolicy(p: ChannelPolicy): ChannelPolicy {
  if (!Number.isSafeInteger(p.approvals) || p.approvals < 1 || p.approvals > 10)
    throw new InputError('approvals must be 1..10');
  if (!Array.isArray(p.owners) || p.owners.length === 0) throw new InputError('owners must list release owners or "*"');
  for (const o of p.owners) if (o !== '*') checkPattern('actor', o);
  if (p.onBreach !== 'pause' && p.onBreach !== 'rollback')
    throw new InputError("onBreach must be 'pause' or 'rollback'");
  checkPattern('plan', p.plan);
  return p;
}

export function checkApproveInput(input: ApproveInput): void {
  if (typeof input !== 'object' || input === null)
    throw new InputError('approve takes {"approver": "...", "comment": "..."}');
  checkPattern('actor', input.approver);
  checkNotAfter(input.notAfter);
  if (input.comment !== undefined && (typeof input.comment !== 'string' || input.comment.length > limits.maxComment)) {
    throw new InputError(`comment must be text of at most ${limits.maxComment} characters`);
  }
}

function checkNotAfter(notAfter: unknown): void {
  if (notAfter !== undefined && !(typeof notAfter === 'number' && Number.isSafeInteger(notAfter) && notAfter > 0)) {
    throw new InputError('notAfter must be a time in epoch milliseconds');
  }
}

export function checkOpsInput(input: OpsInput | undefined): void {
  if (input === undefined) return;
  if (typeof input !== 'object' || input === null) throw new InputError('takes {"actor": "...", "reason": "..."}');
  if (input.actor !== undefined) checkPattern('actor', input.actor);
  checkNotAfter(input.notAfter);
  if (input.to !== undefined) checkVersion(input.to);
  if (input.reason !== undefined && (typeof input.reason !== 'string' || input.reason.length > limits.maxComment)) {
    throw new InputError(`reason must be text of at most ${limits.maxComment} characters`);
  }
}

/** A UTF-16 surrogate without its partner: JSON's `\uD800` can carry one, UTF-8 cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * S-18: why the fleet store could not keep `text` as it was sent, or undefined. PostgreSQL
 * (and PGlite) TEXT refuses U+0000 outright, and a lone surrogate would be stored as
 * U+FFFD, silently changed; other control characters are stored as sent (and escaped in
 * every JSON log line). The API refuses both at its edge (api/untrusted.ts).
 */
export function unstorableIn(text: string): string | undefined {
  if (text.includes('\u0000')) return 'U+0000 (NUL)';
  if (LONE_SURROGATE.test(text)) return 'a lone UTF-16 surrogate';
  return undefined;
}
