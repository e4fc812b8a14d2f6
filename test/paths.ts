import { resolve } from 'node:path';

/** The checkout's root, from the compiled test folder (dist/test). */
export const REPO_ROOT = resolve(__dirname, '..', '..');
/** Where `tsc -b` puts the compiled project. */
export const DIST = resolve(REPO_ROOT, 'dist');
