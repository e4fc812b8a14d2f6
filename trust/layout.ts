import { LAYOUT_FIELD, PARTITIONED_LAYOUT, partitionOf } from '@enigm-ota/client-sdk';
import type { Root } from '@tufjs/models';

import { ServerError } from '../common/errors';
import { patterns } from '../common/validation';

/**
 * The repository layout on the server (docs/adr/0008-partitioned-metadata.md); the fields and
 * their meaning are the device's (client-sdk/src/layout.ts), so both sides read one definition.
 */
// partitionFolder: storage folder of a repository's partition files (roots stay at the repository's top).
export {
  LAYOUT_FIELD,
  PARTITION_FIELD,
  PARTITIONED_LAYOUT,
  partitionFolder,
  SIGNED_AT_FIELD,
} from '@enigm-ota/client-sdk';

export type Layout = 'flat' | 'partitioned';

export function layoutOf(root: Root): Layout {
  return root.unrecognizedFields[LAYOUT_FIELD] === PARTITIONED_LAYOUT ? 'partitioned' : 'flat';
}

/** A partition's name, also its folder in storage and in the device URL: `channel/hardwareId`. */
export function partitionName(channel: string, hardwareId: string): string {
  if (!new RegExp(patterns.channel).test(channel) || !new RegExp(patterns.hardwareId).test(hardwareId)) {
    throw new ServerError(
      'INVALID_INPUT',
      `no partition for channel ${JSON.stringify(channel.slice(0, 40))} and hardware ${JSON.stringify(hardwareId.slice(0, 70))}`,
    );
  }
  return partitionOf(channel, hardwareId);
}
