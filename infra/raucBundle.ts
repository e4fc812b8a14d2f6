import { execFile } from 'node:child_process';
import { copyFile, link, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

import { isSemver } from '@enigm-ota/client-sdk/semver';

import { InputError, ServerError } from '../common/errors';

const run = promisify(execFile);

export interface BundleInput {
  /** The slot image (ext4, squashfs, ...); RAUC writes it by its file name's extension. */
  image: string;
  /** The release's version, written into the manifest (RAUC keeps it in its slot status). */
  version: string;
  /** The compatible string of the devices' system.conf; RAUC refuses a bundle for another one. */
  compatible: string;
  /** The slot class the image is for (`rootfs` on the reference layout). */
  slotClass?: string;
  out: string;
  signing: { cert: string; key: string; keyring: string };
  /** The `rauc` program (default: on PATH). */
  rauc?: string;
  timeoutMs?: number;
}

/** Manifest values are one line of plain text: a newline would add keys to the signed manifest. */
const COMPATIBLE = /^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,127}$/;
const SLOT_CLASS = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(ext4|squashfs|img|vfat|tar|tar\.gz|tar\.xz|tar\.zst|tar\.bz2)$/;

/**
 * A RAUC bundle of one image in the verity format (the payload is checked block by block as
 * RAUC reads it, so nothing is read unverified after the signature check), signed with the
 * ceremony's bundle-signing certificate and checked against its keyring before it is kept.
 * `rauc bundle` runs with fixed arguments, never a shell; the image is linked (or copied)
 * into a private folder, since RAUC packs a folder.
 */
export async function createBundle(input: BundleInput): Promise<{ out: string; bytes: number }> {
  const slotClass = input.slotClass ?? 'rootfs';
  if (!isSemver(input.version))
    throw new InputError(`--version ${JSON.stringify(input.version.slice(0, 40))} is not a semantic version`);
  if (!COMPATIBLE.test(input.compatible))
    throw new InputError('--compatible must be one line of letters, digits, space and ._+-');
  if (!SLOT_CLASS.test(slotClass)) throw new InputError('the slot class must be letters, digits and ._-');
  const name = basename(input.image);
  if (!IMAGE_NAME.test(name)) {
    throw new InputError(`${name}: name the image for its content (rootfs.ext4, rootfs.squashfs, rootfs.img, ...)`);
  }
  if (!(await stat(input.image)).isFile()) throw new InputError(`${input.image} is not a file`);
  const dir = await mkdtemp(join(tmpdir(), 'ota-bundle-'));
  try {
    await linkOrCopy(input.image, join(dir, name));
    const manifest = [
      '[update]',
      `compatible=${input.compatible}`,
      `version=${input.version}`,
      '',
      '[bundle]',
      'format=verity',
      '',
      `[image.${slotClass}]`,
      `filename=${name}`,
      '',
    ].join('\n');
    await writeFile(join(dir, 'manifest.raucm'), manifest);
    await rm(input.out, { force: true });
    const { cert, key, keyring } = input.signing;
    await rauc(input, ['bundle', `--cert=${cert}`, `--key=${key}`, `--keyring=${keyring}`, dir, input.out]);
    return { out: input.out, bytes: (await stat(input.out)).size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What `rauc info` says of a bundle after checking its signature against `keyring` (the device's check). */
export async function bundleInfo(
  bundle: string,
  check: { keyring: string; rauc?: string },
): Promise<{ compatible: string; version: string }> {
  const { stdout } = await rauc(check, ['info', `--keyring=${check.keyring}`, '--output-format=json', bundle]);
  const info = JSON.parse(stdout) as { compatible?: unknown; version?: unknown };
  if (typeof info.compatible !== 'string' || typeof info.version !== 'string') {
    throw new ServerError('BUNDLE_BUILD_FAILED', `rauc info ${bundle}: no compatible or version`);
  }
  return { compatible: info.compatible, version: info.version };
}

async function rauc(tool: { rauc?: string; timeoutMs?: number }, args: string[]) {
  const program = tool.rauc ?? 'rauc';
  try {
    return await run(program, args, { maxBuffer: 1 << 20, timeout: tool.timeoutMs ?? 30 * 60_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new ServerError('CONFIG_INVALID', `${program} is not installed (Debian: apt install rauc squashfs-tools)`, {
        cause: err,
      });
    }
    const said = (e.stderr ?? e.message).trim().slice(-500);
    throw new ServerError('BUNDLE_BUILD_FAILED', `rauc ${args[0] ?? ''} failed: ${said}`, { cause: err });
  }
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}
