export { releaseWorkflow } from './release.workflow';
