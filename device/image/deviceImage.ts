import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** device/image/ in the checkout, from the compiled module (dist/device/image). */
const RECIPE = resolve(__dirname, '..', '..', '..', 'device', 'image');

export interface DeviceImage {
  /** The cache directory of these inputs. */
  dir: string;
  /** Raw GPT disk: ESP, slots A and B, data. */
  disk: string;
  /** The slot filesystem (ext4) the disk's slots hold: the payload of an update bundle. */
  rootfs: string;
}

export interface DeviceImageInputs {
  /** The RAUC keyring (PEM); the development keyring of build.sh when absent. */
  keyring?: string;
  /** The agent's single executable and its unit; without them the image has no agent. */
  agentExe?: string;
  agentUnit?: string;
  /** /etc/enigm-ota/version of the slots. */
  version?: string;
}

/** Builds the reference VM image with build.sh, or finds it in the cache (same inputs, same image). */
export async function buildDeviceImage(inputs: DeviceImageInputs = {}): Promise<DeviceImage> {
  const args = [join(RECIPE, 'build.sh')];
  if (inputs.keyring) args.push('--keyring', inputs.keyring);
  if (inputs.agentExe) args.push('--agent-exe', inputs.agentExe);
  if (inputs.agentUnit) args.push('--agent-unit', inputs.agentUnit);
  if (inputs.version) args.push('--version', inputs.version);
  const { stdout } = await run('bash', args, { maxBuffer: 1024 * 1024 });
  const dir = stdout.trim().split('\n').pop() ?? '';
  return { dir, disk: join(dir, 'disk.img'), rootfs: join(dir, 'rootfs.ext4') };
}

/** A file put into a slot filesystem: an absolute path inside it, its content and mode. */
export interface SlotFile {
  path: string;
  content: string | Buffer;
  mode: number;
}

const SLOT_PATH = /^(\/[A-Za-z0-9._@-]+)+$/;

/**
 * A copy of a slot filesystem whose /etc/enigm-ota/version says `version`: the content of an
 * update, made in a second without a rebuild (debugfs edits the ext4 image unmounted). `files`
 * are added or replaced as well (what a vendor bakes into its image: the agent's configuration,
 * trust anchors, the RAUC keyring), owned by root, their folders made as needed.
 */
export async function slotImageWithVersion(options: {
  rootfs: string;
  version: string;
  out: string;
  files?: SlotFile[];
}): Promise<void> {
  if (!/^[0-9A-Za-z.+~-]{1,64}$/.test(options.version)) throw new Error(`slot image: bad version ${options.version}`);
  const files: SlotFile[] = [
    { path: '/etc/enigm-ota/version', content: `${options.version}\n`, mode: 0o644 },
    ...(options.files ?? []),
  ];
  for (const file of files) {
    if (!SLOT_PATH.test(file.path) || file.path.split('/').includes('..'))
      throw new Error(`slot image: bad path ${file.path}`);
  }
  await run('cp', ['--sparse=always', options.rootfs, options.out]);
  const dir = await mkdtemp(join(tmpdir(), 'enigm-ota-slot-'));
  try {
    const commands: string[] = [];
    for (const [i, file] of files.entries()) {
      const local = join(dir, `file-${i}`);
      await writeFile(local, file.content, { mode: file.mode });
      await chmod(local, file.mode);
      // mkdir of an existing folder and rm of an absent file fail alone; debugfs goes on.
      commands.push(...parents(file.path).map((p) => `mkdir ${p}`), `rm ${file.path}`, `write ${local} ${file.path}`);
    }
    await writeFile(join(dir, 'commands'), `${commands.join('\n')}\n`);
    await run('debugfs', ['-w', '-f', join(dir, 'commands'), options.out]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // debugfs reports a failed command on stderr and still exits 0: read the results back.
  for (const file of files) {
    const { stdout } = await run('debugfs', ['-R', `cat ${file.path}`, options.out], { encoding: 'buffer' });
    if (!stdout.equals(Buffer.from(file.content)))
      throw new Error(`slot image: ${file.path} not written to ${options.out}`);
  }
}

/** The folders above `path`, outermost first (/etc/a/b -> /etc, /etc/a). */
function parents(path: string): string[] {
  const parts = path.split('/').slice(1, -1);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}
