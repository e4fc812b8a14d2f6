import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { expect } from 'chai';

import { OfflineSigner, signMetadata } from '../../../trust/tufKeys';
import { REPO_ROOT } from '../../paths';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'client-sdk', 'dist', 'bin', 'tufConformance.js');
const EXPIRES = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A small signed repository on disk, served over loopback like the conformance suite does. */
async function buildRepo(root: string, files: Record<string, Buffer>): Promise<void> {
  const key = OfflineSigner.generate();
  const r = new Root({ specVersion: '1.0.31', version: 1, expires: EXPIRES, consistentSnapshot: true });
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) r.addKey(key.key, role);
  const targets = new Targets({ specVersion: '1.0.31', version: 1, expires: EXPIRES });
  for (const [name, bytes] of Object.entries(files)) {
    targets.addTarget(new TargetFile({ path: name, length: bytes.length, hashes: { sha256: sha(bytes) } }));
    const out = join(root, 'targets', dirname(name), `${sha(bytes)}.${name.split('/').pop()}`);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, bytes);
  }
  const write = async (file: string, md: Metadata<Root | Targets | Snapshot | Timestamp>) => {
    signMetadata(md, [key]);
    const bytes = Buffer.from(JSON.stringify(md.toJSON()));
    await mkdir(join(root, 'metadata'), { recursive: true });
    await writeFile(join(root, 'metadata', file), bytes);
    return bytes;
  };
  await write('1.root.json', new Metadata(r));
  await writeFile(join(root, 'trusted-root.json'), await readFile(join(root, 'metadata', '1.root.json')));
  await write('1.targets.json', new Metadata(targets));
  const snap = await write(
    '1.snapshot.json',
    new Metadata(
      new Snapshot({
        specVersion: '1.0.31',
        version: 1,
        expires: EXPIRES,
        meta: { 'targets.json': new MetaFile({ version: 1 }) },
      }),
    ),
  );
  await write(
    'timestamp.json',
    new Metadata(
      new Timestamp({
        specVersion: '1.0.31',
        version: 1,
        expires: EXPIRES,
        snapshotMeta: new MetaFile({ version: 1, length: snap.length, hashes: { sha256: sha(snap) } }),
      }),
    ),
  );
}

describe('the TUF conformance client CLI', () => {
  let dir: string;
  let server: Server;
  let base: string;
  const files = { 'a.txt': Buffer.from('first target'), 'dir/b.bin': Buffer.from('second target') };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-conf-'));
    await buildRepo(join(dir, 'repo'), files);
    server = createServer((req, res) => {
      readFile(join(dir, 'repo', decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)))
        .then((body) => res.end(body))
        .catch(() => {
          res.statusCode = 404;
          res.end();
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const cli = async (...args: string[]) => {
    try {
      await run(process.execPath, [CLI, ...args]);
      return 0;
    } catch (err) {
      return (err as { code: number }).code;
    }
  };

  it('inits, refreshes and downloads targets in order, storing metadata unversioned', async () => {
    const md = join(dir, 'client');
    expect(await cli('--metadata-dir', md, 'init', join(dir, 'repo', 'trusted-root.json'))).to.equal(0);
    expect(await cli('--metadata-dir', md, '--metadata-url', `${base}/metadata`, 'refresh')).to.equal(0);
    expect(
      (JSON.parse(await readFile(join(md, 'timestamp.json'), 'utf8')) as { signed: { _type: string } }).signed._type,
    ).to.equal('timestamp');
    const out = join(dir, 'downloads');
    const args = [
      '--metadata-dir',
      md,
      '--metadata-url',
      `${base}/metadata`,
      '--target-name',
      'a.txt',
      '--target-name',
      'dir/b.bin',
      '--target-base-url',
      `${base}/targets`,
      '--target-dir',
      out,
      'download',
    ];
    expect(await cli(...args)).to.equal(0);
    expect(await readFile(join(out, encodeURIComponent('dir/b.bin')), 'utf8')).to.equal('second target');
  });

  it('exits 1 when a target is tampered with or unknown', async () => {
    const md = join(dir, 'client2');
    await cli('--metadata-dir', md, 'init', join(dir, 'repo', 'trusted-root.json'));
    const stored = join(dir, 'repo', 'targets', `${sha(files['a.txt'])}.a.txt`);
    await writeFile(stored, 'evil bytes!!');
    const out = join(dir, 'downloads2');
    const common = [
      '--metadata-dir',
      md,
      '--metadata-url',
      `${base}/metadata`,
      '--target-base-url',
      `${base}/targets`,
      '--target-dir',
      out,
    ];
    expect(await cli(...common, '--target-name', 'a.txt', 'download')).to.equal(1);
    expect(await cli(...common, '--target-name', 'nope.txt', 'download')).to.equal(1);
  });
});
