import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { ServerError } from '../../../common/errors';
import { SpdxTools } from '../../../infra/spdxTools';
import { rejectionOf } from '../../rejection';
import { SPDX_SBOM } from '../supplychain/spdxSbom';

const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc));
const ours = async () => (await readdir(tmpdir())).filter((f) => f.startsWith('ota-spdx-'));

/** SPDX's own validator (PyPI spdx-tools, installed by setup) as the API runs it. */
describe('SPDX documents checked by spdx-tools', function () {
  this.timeout(60_000);
  const tools = new SpdxTools('pyspdxtools');

  it('accepts a valid SPDX 2.3 document, and leaves no file behind', async () => {
    const before = await ours();
    await tools.validate(bytes(SPDX_SBOM));
    expect(await ours()).to.deep.equal(before);
  });

  it('refuses what only the specification rules out (INVALID_INPUT, with the reason, without our file name)', async () => {
    const dangling = {
      ...SPDX_SBOM,
      relationships: [
        { spdxElementId: 'SPDXRef-SPDX_SBOM', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-nothing' },
      ],
    };
    const err = await rejectionOf(tools.validate(bytes(dangling)));
    expect(err).to.be.instanceOf(ServerError).and.have.property('code', 'INVALID_INPUT');
    expect(err.message).to.contain('SPDXRef-nothing').and.not.contain(tmpdir());
    const badDate = { ...SPDX_SBOM, creationInfo: { ...SPDX_SBOM.creationInfo, created: 'yesterday' } };
    expect(await rejectionOf(tools.validate(bytes(badDate)))).to.have.property('code', 'INVALID_INPUT');
    const badLocation = { ...SPDX_SBOM, packages: [{ ...SPDX_SBOM.packages[0], downloadLocation: 'not a location' }] };
    const located = await rejectionOf(tools.validate(bytes(badLocation)));
    expect(located.message).to.contain('download_location');
  });

  it('refuses every document when the tool is missing (UNAVAILABLE): it fails closed', async () => {
    const err = await rejectionOf(new SpdxTools('/nonexistent/pyspdxtools').validate(bytes(SPDX_SBOM)));
    expect(err).to.be.instanceOf(ServerError).and.have.property('code', 'UNAVAILABLE');
    expect(err.message).to.contain('spdx-tools');
    // Nothing is left waiting for the process that never started: a process that only asks ends.
    const alone = spawnSync(
      process.execPath,
      [
        '-e',
        `new (require(${JSON.stringify(require.resolve('../../../infra/spdxTools'))}).SpdxTools)('/nonexistent/x')` +
          `.validate(Buffer.from('{}')).catch((e) => console.log(e.code))`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(alone.stdout.trim()).to.equal('UNAVAILABLE');
    expect(alone.signal, 'ended on its own, well before the 60 s a started tool may take').to.equal(null);
  });

  it('checks at most two documents at once and finishes every one', async () => {
    // A stand-in for the tool that notes how many copies of itself run beside it.
    const dir = await mkdtemp(join(tmpdir(), 'spdx-count-'));
    try {
      const script = join(dir, 'tool.sh');
      await writeFile(
        script,
        `#!/bin/sh\ntouch "${dir}/run-$$"\nls "${dir}" | grep -c '^run-' >> "${dir}/seen"\nsleep 0.3\nrm "${dir}/run-$$"\n`,
        { mode: 0o755 },
      );
      const tool = new SpdxTools(script);
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => tool.validate(bytes(SPDX_SBOM))));
      expect(results.map((r) => r.status)).to.deep.equal(Array(6).fill('fulfilled'));
      const seen = (await readFile(join(dir, 'seen'), 'utf8')).trim().split('\n').map(Number);
      expect(seen).to.have.length(6);
      expect(Math.max(...seen)).to.be.at.most(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
