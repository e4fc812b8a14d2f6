import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InstallError } from './errors';
import type { VerifiedTarget } from './metadata';
import { isSemver } from './semver';

/**
 * Called only with a file that passed every check. `install` stages the new image;
 * `confirm` boots it and reports whether it came up healthy; on false the installer has
 * already reverted. `revert` goes back to the previous image when the health window
 * closes before `confirm` answered.
 */
export interface Installer {
  install(verifiedFile: string, target: VerifiedTarget): Promise<void>;
  confirm(target: VerifiedTarget): Promise<boolean>;
  revert(target: VerifiedTarget): Promise<void>;
}

/** What a device persists between polls; written atomically (temp file + rename). */
export interface DeviceState {
  currentVersion: string;
  rollbackIndex: number;
}

/** D-10: a damaged state file must never read as "no rollback index": it stops every install. */
export async function readState(dir: string, initial: DeviceState): Promise<DeviceState> {
  let text: string;
  try {
    text = await readFile(join(dir, 'state.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return initial;
    throw err;
  }
  let state: Partial<DeviceState>;
  try {
    state = JSON.parse(text) as Partial<DeviceState>;
  } catch (err) {
    throw new InstallError('DEVICE_STATE_INVALID', 'device state.json is not JSON', { cause: err });
  }
  if (
    typeof state.currentVersion !== 'string' ||
    !isSemver(state.currentVersion) ||
    !Number.isSafeInteger(state.rollbackIndex) ||
    (state.rollbackIndex as number) < 0
  ) {
    throw new InstallError('DEVICE_STATE_INVALID', 'device state.json lacks a valid version or rollback index');
  }
  return { currentVersion: state.currentVersion, rollbackIndex: state.rollbackIndex as number };
}

export async function writeState(dir: string, state: DeviceState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `state.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, join(dir, 'state.json'));
}

/**
 * The simulated device's installer: the new image is staged beside the running one and
 * becomes current only when the simulated boot is healthy. `healthy` decides the boot
 * (a simulated fleet uses it to model a share of devices that fail after installing).
 */
export class DirectoryInstaller implements Installer {
  constructor(
    private readonly dir: string,
    private readonly healthy: (target: VerifiedTarget) => boolean | Promise<boolean> = () => true,
  ) {}

  async install(verifiedFile: string, target: VerifiedTarget): Promise<void> {
    const slot = join(this.dir, 'system');
    await mkdir(slot, { recursive: true });
    const tmp = join(slot, `staged.${process.pid}.tmp`);
    await copyFile(verifiedFile, tmp);
    await rename(tmp, join(slot, 'staged'));
    await writeFile(join(slot, 'staged.version'), target.policy.version);
  }

  async confirm(target: VerifiedTarget): Promise<boolean> {
    const slot = join(this.dir, 'system');
    if (!(await this.healthy(target))) {
      await this.revert();
      return false;
    }
    await rename(join(slot, 'staged'), join(slot, 'image'));
    await rename(join(slot, 'staged.version'), join(slot, 'version'));
    return true;
  }

  async revert(): Promise<void> {
    const slot = join(this.dir, 'system');
    await rm(join(slot, 'staged'), { force: true });
    await rm(join(slot, 'staged.version'), { force: true });
  }
}
