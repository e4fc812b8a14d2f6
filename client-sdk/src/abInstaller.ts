import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Installer } from './installer';
import type { VerifiedTarget } from './metadata';

type Slot = 'a' | 'b';

export interface AbOptions {
  /** Boots the slot and answers whether it came up healthy (a real device: reboot + self-test). */
  boot(slotDir: string, target: VerifiedTarget): Promise<boolean>;
  /** Test hook: called after each durable step, to simulate a power cut there by throwing. */
  step?(name: AbStep): void;
}

export type AbStep = 'image-written' | 'version-written' | 'trial-set' | 'active-switched' | 'trial-cleared';

/**
 * Reference A/B installer: the new image goes into the inactive slot, a trial marker
 * points the next boot at it, and only a healthy boot makes it the active slot. Every
 * durable change is one atomic rename, so a power cut at any point leaves either the old
 * or the new slot active and complete; `recover()` (run at start-up) drops an unfinished
 * trial, which is what a bootloader does when the new slot never confirmed.
 */
export class AbSlotInstaller implements Installer {
  constructor(
    private readonly dir: string,
    private readonly options: AbOptions,
  ) {}

  /** The slot and version that actually run (what the device should report). */
  async running(): Promise<{ slot: Slot; version: string | undefined }> {
    const slot = await this.active();
    const version = await readFile(join(this.slotDir(slot), 'version'), 'utf8').catch(() => undefined);
    return { slot, version };
  }

  async recover(): Promise<void> {
    await rm(join(this.dir, 'trial'), { force: true });
  }

  async install(verifiedFile: string, target: VerifiedTarget): Promise<void> {
    const slot = other(await this.active());
    const dir = this.slotDir(slot);
    await mkdir(dir, { recursive: true });
    await rm(join(dir, 'version'), { force: true }); // the slot is not valid until both files are in
    await atomicCopy(verifiedFile, join(dir, 'image'));
    this.options.step?.('image-written');
    await atomicWrite(join(dir, 'version'), target.policy.version);
    this.options.step?.('version-written');
  }

  async confirm(target: VerifiedTarget): Promise<boolean> {
    const slot = other(await this.active());
    await atomicWrite(join(this.dir, 'trial'), slot);
    this.options.step?.('trial-set');
    if (!(await this.options.boot(this.slotDir(slot), target))) {
      await this.revert();
      return false;
    }
    await atomicWrite(join(this.dir, 'active'), slot);
    this.options.step?.('active-switched');
    await rm(join(this.dir, 'trial'), { force: true });
    this.options.step?.('trial-cleared');
    return true;
  }

  async revert(): Promise<void> {
    await rm(join(this.dir, 'trial'), { force: true });
  }

  private async active(): Promise<Slot> {
    const text = await readFile(join(this.dir, 'active'), 'utf8').catch(() => 'a');
    return text.trim() === 'b' ? 'b' : 'a';
  }

  private slotDir(slot: Slot): string {
    return join(this.dir, 'slots', slot);
  }
}

function other(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

async function atomicWrite(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function atomicCopy(from: string, to: string): Promise<void> {
  await copyFile(from, `${to}.tmp`);
  await rename(`${to}.tmp`, to);
}
