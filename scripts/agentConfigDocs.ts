import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { renderConfigDocs } from '../device/agent/configDocs';

/** Writes docs/agent-config.md from the agent's key table (dist/scripts -> the repository). */
writeFile(join(__dirname, '..', '..', 'docs', 'agent-config.md'), renderConfigDocs()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
