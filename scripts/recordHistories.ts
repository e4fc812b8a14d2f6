import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { connectClient } from '../control/temporal';
import { loadConfig } from '../infra/config';

/**
 * Records release histories for the replay test (test/unit/workflows/replay.test.ts): run
 * `npm test` first, then `OTA_HOME=var/test node dist/scripts/recordHistories.js ID...`
 * with the test stack running. Re-record deliberately when a workflow change is meant
 * to be incompatible (and version it with patched() otherwise).
 */
async function main(ids: string[]): Promise<void> {
  const config = loadConfig();
  const client = await connectClient(config);
  try {
    for (const id of ids) {
      // The first run of each release: it holds every stage from intake on.
      let firstRunId: string | undefined;
      for await (const wf of client.workflow.list({ query: `WorkflowId = '${id}'` })) firstRunId = wf.runId;
      // The temporal CLI writes the JSON form that Worker.runReplayHistory reads.
      const json = execFileSync(
        'temporal',
        ['workflow', 'show', '--address', config.temporal.address, '-w', id, '-r', firstRunId ?? '', '-o', 'json'],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      const file = join(__dirname, '..', '..', 'test', 'histories', `${id}.json`);
      await writeFile(file, json);
      console.log(`recorded ${id} (${(JSON.parse(json) as { events: unknown[] }).events.length} events) -> ${file}`);
    }
  } finally {
    await client.connection.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
