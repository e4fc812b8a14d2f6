import { buildDeltas } from './deltas';
import type { ActivityDeps } from './deps';
import { withCodes } from './failures';
import { refreshMetadata } from './freshness';
import { loadChannelPolicy, rolloutHealth } from './governanceInputs';
import { intakeBuild, prepareArtifact } from './intake';
import { offerPrevious } from './offerPrevious';
import { recordReleaseEvents } from './releaseEvents';
import { createManifest, publishRollout, registerRelease, signRelease } from './signAndPublish';
import { supersede } from './supersede';
import { validateRelease } from './validate';

export type { ActivityDeps } from './deps';

/**
 * The release stages as Temporal activities, closed over their dependencies. Each one is
 * `(deps, input) => result` in its own module; `bind` closes over deps and turns project
 * errors into typed ApplicationFailures.
 */
export const createActivities = (deps: ActivityDeps) => {
  const bind = <I, R>(fn: (deps: ActivityDeps, input: I) => Promise<R>) => withCodes((input: I) => fn(deps, input));
  return {
    intakeBuild: bind(intakeBuild),
    prepareArtifact: bind(prepareArtifact),
    buildDeltas: bind(buildDeltas),
    createManifest: bind(createManifest),
    signRelease: bind(signRelease),
    registerRelease: bind(registerRelease),
    validateRelease: bind(validateRelease),
    publishRollout: bind(publishRollout),
    loadChannelPolicy: bind(loadChannelPolicy),
    rolloutHealth: bind(rolloutHealth),
    offerPrevious: bind(offerPrevious),
    supersede: bind(supersede),
    refreshMetadata: bind(refreshMetadata),
    recordReleaseEvents: bind(recordReleaseEvents),
  };
};
