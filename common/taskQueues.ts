/** The one place task-queue names live; worker, CLI and tests import them from here. */
export const RELEASE_TASK_QUEUE = 'ota-release';
