export { releaseWorkflow } from './releaseWorkflow';
export { metadataFreshnessWorkflow } from './freshnessWorkflow';
