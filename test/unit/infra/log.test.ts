import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

const run = promisify(execFile);
const LOG_MODULE = join(__dirname, '..', '..', '..', 'infra', 'log.js');

/** A service process logging to its stdout (a pipe here, a file or journald in use). */
async function service(body: string): Promise<{ lines: Array<Record<string, unknown>>; code: number }> {
  const script = `const { createLogger } = require(${JSON.stringify(LOG_MODULE)}); const log = createLogger('api', 'info'); ${body}`;
  const done = await run(process.execPath, ['-e', script]).then(
    (r) => ({ stdout: r.stdout, code: 0 }),
    (e: { stdout: string; code: number }) => ({ stdout: e.stdout, code: e.code }),
  );
  const lines = done.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, code: done.code };
}

describe('service logs (stdout written without blocking)', () => {
  it('keeps every line, in order, when the process exits right after a burst', async () => {
    const { lines, code } = await service(
      "for (let i = 0; i < 5000; i++) log.info({ i }, 'request'); log.error('stopping'); process.exit(3);",
    );
    expect(code).to.equal(3);
    expect(lines).to.have.lengthOf(5001);
    expect(lines.slice(0, 5000).every((l, i) => l['i'] === i)).to.equal(true);
    expect(lines[5000]).to.include({ level: 'error', service: 'api', msg: 'stopping' });
  });

  it('keeps the lines written before an uncaught exception ends the process', async () => {
    const { lines, code } = await service(
      "log.info('started'); setTimeout(() => { log.error('about to fail'); throw new Error('boom'); }, 10);",
    );
    expect(code).to.not.equal(0);
    expect(lines.map((l) => l['msg'])).to.deep.equal(['started', 'about to fail']);
  });
});
