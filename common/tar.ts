/**
 * A minimal POSIX ustar archive of regular files, written and read here: evidence bundles are
 * the only archives the project makes, their names are short and their readers may be
 * auditors' scripts (`tar -xf` reads these). Reading is for untrusted input: every size is
 * bounded, only regular files under relative, clean paths are accepted, each header's
 * checksum is checked, and a name appears once.
 */

const BLOCK = 512;

export interface TarLimits {
  maxBytes: number;
  maxFiles: number;
}

export class TarError extends Error {}

/** The archive of `files` in the order given; names at most 100 bytes, relative, without `..`. */
export function writeTar(files: ReadonlyArray<{ name: string; bytes: Buffer }>, mtime = new Date(0)): Buffer {
  const parts: Buffer[] = [];
  for (const { name, bytes } of files) {
    checkName(name);
    const header = Buffer.alloc(BLOCK);
    header.write(name, 0, 100, 'utf8');
    header.write('0000644\0', 100, 'ascii');
    header.write('0000000\0', 108, 'ascii');
    header.write('0000000\0', 116, 'ascii');
    header.write(`${bytes.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    header.write(
      `${Math.floor(mtime.getTime() / 1000)
        .toString(8)
        .padStart(11, '0')}\0`,
      136,
      'ascii',
    );
    header.write('        ', 148, 'ascii');
    header.write('0', 156, 'ascii');
    header.write('ustar\0' + '00', 257, 'ascii');
    header.write(checksumField(header), 148, 'ascii');
    parts.push(header, bytes, Buffer.alloc((BLOCK - (bytes.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The files of an archive by name; TarError for anything this module would not have written. */
export function readTar(archive: Buffer, limits: TarLimits): Map<string, Buffer> {
  if (archive.length > limits.maxBytes) throw new TarError(`the archive is over ${limits.maxBytes} bytes`);
  const files = new Map<string, Buffer>();
  let at = 0;
  for (;;) {
    if (at + BLOCK > archive.length) throw new TarError('the archive ends inside a header (truncated)');
    const header = archive.subarray(at, at + BLOCK);
    // The end: zero blocks to the last byte (a byte changed anywhere in an archive changes what it says).
    if (header.every((b) => b === 0)) {
      if (!archive.subarray(at).every((b) => b === 0)) throw new TarError('bytes after the end of the archive');
      return files;
    }
    if (archive.toString('ascii', at + 257, at + 262) !== 'ustar') throw new TarError('not a ustar archive');
    if (header.toString('latin1', 148, 156) !== checksumField(header))
      throw new TarError(`a header's checksum is wrong at byte ${at}`);
    const type = header.toString('ascii', 156, 157);
    if (type !== '0' && type !== '\0') throw new TarError('the archive holds something other than regular files');
    const prefix = cString(header, 345, 155);
    const name = (prefix ? `${prefix}/` : '') + cString(header, 0, 100);
    checkName(name);
    const size = octal(header, 124, 12);
    const start = at + BLOCK;
    if (start + size > archive.length) throw new TarError(`${name} is cut short`);
    if (files.has(name)) throw new TarError(`${name} appears twice`);
    if (files.size >= limits.maxFiles) throw new TarError(`the archive holds over ${limits.maxFiles} files`);
    files.set(name, Buffer.from(archive.subarray(start, start + size)));
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (at > archive.length || !archive.subarray(start + size, at).every((b) => b === 0))
      throw new TarError(`the padding after ${name} is not zeros`);
  }
}

function checkName(name: string): void {
  if (
    !/^[A-Za-z0-9._/-]{1,100}$/.test(name) ||
    name.startsWith('/') ||
    name.endsWith('/') ||
    name.split('/').some((p) => p === '' || p === '.' || p === '..')
  ) {
    throw new TarError(
      `a file name in the archive is not a clean relative path: ${JSON.stringify(name.slice(0, 120))}`,
    );
  }
}

/** The checksum field as written here: six octal digits, NUL, space (read back byte for byte). */
function checksumField(header: Buffer): string {
  return `${checksum(header).toString(8).padStart(6, '0')}\0 `;
}

/** The header's checksum: its bytes summed with the checksum field read as spaces. */
function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}

function octal(header: Buffer, offset: number, length: number): number {
  const text = cString(header, offset, length).trim();
  if (!/^[0-7]{1,11}$/.test(text)) throw new TarError('a header number is not octal');
  return parseInt(text, 8);
}

function cString(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.toString('utf8', 0, end === -1 ? length : end);
}
