export { releaseWorkflow } from './release.workflow';
export { metadataFreshnessWorkflow } from './freshness.workflow';
