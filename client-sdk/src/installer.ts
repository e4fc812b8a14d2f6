import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VerifiedTarget } from './metadata';

/** Called only with a file that passed every check. */
export interface Installer {
  install(verifiedFile: string, target: VerifiedTarget): Promise<void>;
}

/** What a device persists between polls; written atomically (temp file + rename). */
export interface DeviceState {
  currentVersion: string;
  rollbackIndex: number;
}

export async function readState(dir: string, initial: DeviceState): Promise<DeviceState> {
  try {
    return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as DeviceState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return initial;
    throw err;
  }
}

export async function writeState(dir: string, state: DeviceState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `state.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, join(dir, 'state.json'));
}

/** The simulated device's installer: the "system image" is a file in the device's folder. */
export class DirectoryInstaller implements Installer {
  constructor(private readonly dir: string) {}

  async install(verifiedFile: string, target: VerifiedTarget): Promise<void> {
    const slot = join(this.dir, 'system');
    await mkdir(slot, { recursive: true });
    const tmp = join(slot, `image.${process.pid}.tmp`);
    await copyFile(verifiedFile, tmp);
    await rename(tmp, join(slot, 'image'));
    await writeFile(join(slot, 'version'), target.policy.version);
  }
}
