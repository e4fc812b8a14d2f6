import { InputError } from '../../common/errors';
import type { Config } from '../../infra/config';
import { bundleInfo, createBundle } from '../../infra/raucBundle';
import { bundleSigningFiles } from '../../trust/bundleSigning';
import { type Invocation, required } from '../args';

export interface BundleFlags {
  image?: string;
  version?: string;
  compatible?: string;
  out?: string;
  'slot-class'?: string;
}

/**
 * `ota bundle create`: a RAUC bundle of one image, signed with the ceremony's bundle-signing
 * certificate, then read back with `rauc info` against the ceremony's keyring, as a device
 * checks it, before it is reported done. The bundle is then an ordinary release artifact.
 */
export async function bundle(config: Config, call: Invocation<BundleFlags>): Promise<number> {
  const { command, flags, out } = call;
  if (command !== 'create') throw new InputError(`unknown bundle command: ${command ?? ''} (ota --help)`);
  const signing = bundleSigningFiles(config.ceremonyDir);
  const made = await createBundle({
    image: required(flags.image, '--image'),
    version: required(flags.version, '--version'),
    compatible: required(flags.compatible, '--compatible'),
    out: required(flags.out, '--out'),
    ...(flags['slot-class'] ? { slotClass: flags['slot-class'] } : {}),
    signing,
  });
  const info = await bundleInfo(made.out, { keyring: signing.keyring });
  const result = { ...made, ...info, keyring: signing.keyring };
  out.result(
    result,
    () => `${made.out}: ${made.bytes} bytes, ${info.compatible} ${info.version}, verified against ${signing.keyring}`,
  );
  return 0;
}
