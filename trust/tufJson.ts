import type { Metadata } from '@tufjs/models';

/** Metadata JSON as @tufjs/models reads it (its own JSONObject type is not exported). */
export type TufJson = Parameters<typeof Metadata.fromJSON>[1];

/** Parses stored metadata bytes for `Metadata.fromJSON`, which checks their shape. */
export function parseTufJson(bytes: Buffer | string): TufJson {
  return JSON.parse(bytes.toString()) as TufJson;
}
