import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { readTar, TarError, writeTar } from '../../../common/tar';

const LIMITS = { maxBytes: 1 << 20, maxFiles: 10 };
const files = [
  { name: 'manifest.json', bytes: Buffer.from('{"a":1}\n') },
  { name: 'receipts/12.json', bytes: Buffer.alloc(1000, 7) },
  { name: 'empty', bytes: Buffer.alloc(0) },
];

function refusal(archive: Buffer, limits = LIMITS): string {
  try {
    readTar(archive, limits);
  } catch (err) {
    expect(err).to.be.instanceOf(TarError);
    return (err as Error).message;
  }
  throw new Error('read');
}

describe('tar archives (evidence files)', () => {
  it('read back what was written, and are what the system tar extracts', () => {
    const archive = writeTar(files);
    expect([...readTar(archive, LIMITS)]).to.deep.equal(files.map((f) => [f.name, f.bytes]));
    const dir = mkdtempSync(join(tmpdir(), 'tar-'));
    writeFileSync(join(dir, 'x.tar'), archive);
    execFileSync('tar', ['-xf', 'x.tar'], { cwd: dir });
    expect(readFileSync(join(dir, 'receipts/12.json'))).to.deep.equal(files[1]!.bytes);
  });

  it('refuse an archive in which any single byte changed', () => {
    const archive = writeTar(files);
    let accepted = 0;
    for (let i = 0; i < archive.length; i++) {
      const changed = Buffer.from(archive);
      changed[i] = changed[i]! ^ 0x01;
      try {
        const read = readTar(changed, LIMITS);
        // A change inside a file's bytes reads back (those bytes are the evidence's to check)...
        const same = files.every((f) => read.get(f.name)?.equals(f.bytes));
        if (same) accepted++;
      } catch (err) {
        expect(err).to.be.instanceOf(TarError);
      }
    }
    // ...but nothing else goes unnoticed: no change yields the same files.
    expect(accepted).to.equal(0);
  });

  it('refuse unclean names, other file types, duplicates, truncation and sizes over the limits', () => {
    expect(() => writeTar([{ name: '../x', bytes: Buffer.alloc(1) }])).to.throw(TarError);
    expect(() => writeTar([{ name: '/etc/passwd', bytes: Buffer.alloc(1) }])).to.throw(TarError);
    expect(() => writeTar([{ name: 'a//b', bytes: Buffer.alloc(1) }])).to.throw(TarError);
    const twice = writeTar([files[0]!, files[0]!]);
    expect(refusal(twice)).to.match(/twice/);
    const archive = writeTar(files);
    expect(refusal(archive.subarray(0, 700))).to.match(/cut short|truncated|padding/);
    expect(refusal(archive, { maxBytes: 100, maxFiles: 10 })).to.match(/over 100 bytes/);
    expect(refusal(archive, { maxBytes: 1 << 20, maxFiles: 2 })).to.match(/over 2 files/);
    expect(refusal(Buffer.concat([archive, Buffer.from('x')]))).to.match(/after the end/);
    const link = Buffer.from(archive);
    link.write('2', 156, 'ascii'); // a symbolic link, with its checksum made right
    link.write('        ', 148, 'ascii');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += link[i]!;
    link.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    expect(refusal(link)).to.match(/other than regular files/);
    expect(refusal(Buffer.alloc(512, 1))).to.match(/not a ustar/);
  });
});
