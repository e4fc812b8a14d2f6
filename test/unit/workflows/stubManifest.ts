import { type ReleaseSpec, type ReleaseTarget, targetName } from '../../../common/release';

/** What createManifest answers in workflow tests: the release's target, with no deltas or targeting. */
export function stubManifest(input: {
  spec: ReleaseSpec;
  artifact: { sha256: string; length: number };
}): ReleaseTarget {
  const { spec, artifact } = input;
  return {
    name: targetName(spec.channel, spec.version, spec.fileName),
    length: artifact.length,
    sha256: artifact.sha256,
    custom: {
      version: spec.version,
      channel: spec.channel,
      hardwareIds: spec.hardwareIds,
      rollbackIndex: spec.rollbackIndex,
    },
  };
}
