import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { copyFileDurably, writeFileDurably } from './durable';
import type { Installer, Recovery } from './installer';
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
 * durable change is one synced atomic rename, so a power cut at any point leaves either
 * the old or the new slot active and complete (D-13); `recover()` (run at start-up)
 * drops an unfinished trial, which is what a bootloader does when the new slot never
 * confirmed.
 */
export class AbSlotInstaller implements Installer {
  constructor(
    private readonly dir: string,
    private readonly options: AbOptions,
  ) {}

  /** The slot and version that actually run (what the device should report). */
  async running(): Promise<{ slot: Slot; version: string | undefined }> {
    const slot = await this.active();
    return { slot, version: await readOptional(join(this.slotDir(slot), 'version')) };
  }

  /**
   * D-13. A trial naming the active slot had already confirmed (cut before the marker was
   * cleared). The marker goes once the agent has stored the outcome (`afterRecorded`): a cut
   * before that finds it again and tells the same outcome.
   */
  async recover(): Promise<Recovery> {
    const trial = await this.trial();
    const trialDropped = trial !== undefined && trial.slot !== (await this.active());
    if (trial === undefined) return { trialDropped };
    // Only the trial recovery saw: one written since (a new install) is not this one to clear.
    const afterRecorded = async () => {
      if ((await this.trial())?.token === trial.token) await rm(join(this.dir, 'trial'), { force: true });
    };
    return { trialDropped, afterRecorded };
  }

  async install(verifiedFile: string, target: VerifiedTarget): Promise<void> {
    const slot = other(await this.active());
    const dir = this.slotDir(slot);
    await mkdir(dir, { recursive: true });
    // The slot is not valid until all three files are in; a hash left from its last image would be a lie.
    await rm(join(dir, 'version'), { force: true });
    await rm(join(dir, 'sha256'), { force: true });
    await copyFileDurably(verifiedFile, join(dir, 'image'));
    this.options.step?.('image-written');
    await writeFileDurably(join(dir, 'sha256'), target.sha256);
    await writeFileDurably(join(dir, 'version'), target.fields.version);
    this.options.step?.('version-written');
  }

  /** The active slot's image and the hash it was verified with; undefined for a factory image (no hash written). */
  async runningImage(): Promise<{ file: string; sha256: string } | undefined> {
    const dir = this.slotDir(await this.active());
    const sha256 = (await readOptional(join(dir, 'sha256')))?.trim();
    if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256) || (await readOptional(join(dir, 'version'))) === undefined)
      return undefined;
    return { file: join(dir, 'image'), sha256 };
  }

  async confirm(target: VerifiedTarget): Promise<boolean> {
    const slot = other(await this.active());
    const token = randomUUID();
    await writeFileDurably(join(this.dir, 'trial'), `${slot} ${token}`);
    this.options.step?.('trial-set');
    const healthy = await this.options.boot(this.slotDir(slot), target);
    // D-13: a boot that answers after its trial was reverted (the health window closed)
    // or replaced by a newer attempt must not switch anything.
    if ((await this.trial())?.token !== token) return false;
    if (!healthy) {
      await this.revert();
      return false;
    }
    await writeFileDurably(join(this.dir, 'active'), slot);
    this.options.step?.('active-switched');
    await rm(join(this.dir, 'trial'), { force: true });
    this.options.step?.('trial-cleared');
    return true;
  }

  async revert(): Promise<void> {
    await rm(join(this.dir, 'trial'), { force: true });
  }

  private async trial(): Promise<{ slot: Slot; token: string } | undefined> {
    const text = await readOptional(join(this.dir, 'trial'));
    if (text === undefined) return undefined;
    const [slot = '', token = ''] = text.trim().split(' ');
    return { slot: slot === 'b' ? 'b' : 'a', token };
  }

  private async active(): Promise<Slot> {
    return (await readOptional(join(this.dir, 'active')))?.trim() === 'b' ? 'b' : 'a';
  }

  /** Where a slot's image and version live (a check of what a device runs reads them there). */
  slotDir(slot: Slot): string {
    return join(this.dir, 'slots', slot);
  }
}

function other(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

/** Absent is an answer (nothing written yet); any other read error is not. */
async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
