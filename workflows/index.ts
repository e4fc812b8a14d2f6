export { metadataFreshnessWorkflow } from './freshnessWorkflow';
export { releaseWorkflow } from './releaseWorkflow';
