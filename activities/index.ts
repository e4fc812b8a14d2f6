import type { ActivityDeps } from './deps';
import { withCodes } from './failures';
import { refreshMetadata } from './freshness';
import { loadChannelPolicy, rolloutHealth } from './governance';
import { offerPrevious } from './rollbackTo';
import { supersede } from './supersede';
import { intakeBuild, prepareArtifact } from './intake';
import { createManifest, publishRollout, registerRelease, signRelease } from './release';
import { validateRelease } from './validate';

export type { ActivityDeps } from './deps';

/** The release stages as Temporal activities, closed over their dependencies. */
export const createActivities = (deps: ActivityDeps) => ({
  intakeBuild: withCodes((input: Parameters<typeof intakeBuild>[1]) => intakeBuild(deps, input)),
  prepareArtifact: withCodes((input: Parameters<typeof prepareArtifact>[1]) => prepareArtifact(deps, input)),
  createManifest: withCodes((input: Parameters<typeof createManifest>[1]) => createManifest(deps, input)),
  signRelease: withCodes((input: Parameters<typeof signRelease>[1]) => signRelease(deps, input)),
  registerRelease: withCodes((input: Parameters<typeof registerRelease>[1]) => registerRelease(deps, input)),
  validateRelease: withCodes((input: Parameters<typeof validateRelease>[1]) => validateRelease(deps, input)),
  publishRollout: withCodes((input: Parameters<typeof publishRollout>[1]) => publishRollout(deps, input)),
  loadChannelPolicy: withCodes((input: Parameters<typeof loadChannelPolicy>[1]) => loadChannelPolicy(deps, input)),
  rolloutHealth: withCodes((input: Parameters<typeof rolloutHealth>[1]) => rolloutHealth(deps, input)),
  offerPrevious: withCodes((input: Parameters<typeof offerPrevious>[1]) => offerPrevious(deps, input)),
  supersede: withCodes((input: Parameters<typeof supersede>[1]) => supersede(deps, input)),
  refreshMetadata: withCodes((input: Parameters<typeof refreshMetadata>[1]) => refreshMetadata(deps, input)),
});
