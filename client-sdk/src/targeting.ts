/**
 * Shape rules for the signed targeting fields of a rollout (`groups`, `tags`). Free of
 * Node APIs, so the server's workflow-safe validation (common/) can refuse a release spec
 * with exactly the rules that devices and the API apply when they read signed metadata:
 * a spec the CLI accepts can never produce a rollout entry that readers refuse.
 */
export const targetingLimits = {
  maxGroups: 32,
  maxTags: 32,
  /** Group names and tag keys. */
  maxNameLength: 64,
  maxTagValueLength: 128,
} as const;

/** Group names and tag keys: a letter or digit, then letters, digits, `.`, `_`, `:`, `-`. */
export const TARGETING_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Tag values: up to 128 characters, no control characters (they end up in logs and the CLI). */
const TAG_VALUE = /^[^\u0000-\u001f\u007f]{0,128}$/;

export function isTargetingName(value: unknown): value is string {
  return typeof value === 'string' && TARGETING_NAME.test(value);
}

export function isTagValue(value: unknown): value is string {
  return typeof value === 'string' && TAG_VALUE.test(value);
}

/**
 * 1..32 distinct group names. An empty list is refused rather than read as "no groups",
 * because a reader could as well take it for "no device": the signed field must say one thing.
 */
export function isGroupList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.length <= targetingLimits.maxGroups &&
    value.every(isTargetingName) &&
    new Set(value).size === value.length
  );
}

/** A plain object of at most 32 `key: value` string pairs; a device must match every one. */
export function isTagMap(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length <= targetingLimits.maxTags && entries.every(([k, v]) => isTargetingName(k) && isTagValue(v));
}
