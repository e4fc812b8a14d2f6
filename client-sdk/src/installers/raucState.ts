import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import { readCappedIfPresent } from '../cappedFile';
import { writeFileDurably } from '../durable';
import { InstallError } from '../errors';
import type { SlotRecord, TrialMarker } from './raucRecovery';

const MAX_FILE_BYTES = 64 * 1024;
const SLOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The RAUC installer's two small files in the agent's state folder, each replaced durably in
 * one step (D-10): the trial marker, and which verified version the agent wrote into which
 * slot (RAUC's own bundle version is the bundle builder's word, not the signed one). A file
 * that does not read as what was written stops the installer (DEVICE_STATE_INVALID), as
 * state.json does.
 */
export class RaucStateFiles {
  private readonly markerFile: string;
  private readonly slotsFile: string;

  constructor(dir: string) {
    this.markerFile = join(dir, 'rauc-trial.json');
    this.slotsFile = join(dir, 'rauc-slots.json');
  }

  async marker(): Promise<TrialMarker | undefined> {
    const doc = await readJson(this.markerFile);
    if (doc === undefined) return undefined;
    const m = doc as Partial<TrialMarker>;
    const ok =
      (m.phase === 'installing' || m.phase === 'activating' || m.phase === 'booting') &&
      typeof m.version === 'string' &&
      typeof m.sha256 === 'string' &&
      [m.from, m.to].every((s) => typeof s === 'string' && SLOT_NAME.test(s));
    if (!ok) throw unreadable(this.markerFile);
    return m as TrialMarker;
  }

  writeMarker(marker: TrialMarker): Promise<void> {
    return writeFileDurably(this.markerFile, JSON.stringify(marker));
  }

  clearMarker(): Promise<void> {
    return rm(this.markerFile, { force: true });
  }

  async slots(): Promise<Record<string, SlotRecord>> {
    const doc = (await readJson(this.slotsFile)) ?? {};
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw unreadable(this.slotsFile);
    for (const [name, r] of Object.entries(doc as Record<string, Partial<SlotRecord> | null>)) {
      const ok =
        SLOT_NAME.test(name) &&
        typeof r?.version === 'string' &&
        typeof r.sha256 === 'string' &&
        (r.installedAt === undefined || typeof r.installedAt === 'string');
      if (!ok) throw unreadable(this.slotsFile);
    }
    return doc as Record<string, SlotRecord>;
  }

  async setSlot(name: string, record: SlotRecord | undefined): Promise<void> {
    const slots = await this.slots();
    if (record === undefined) delete slots[name];
    else slots[name] = record;
    await writeFileDurably(this.slotsFile, JSON.stringify(slots));
  }
}

/** Absent is an answer (nothing written yet); anything unreadable, oversized or not JSON is not. */
async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    const bytes = await readCappedIfPresent(file, MAX_FILE_BYTES);
    if (bytes === undefined) return undefined;
    text = bytes.toString('utf8');
  } catch (err) {
    throw new InstallError('DEVICE_STATE_INVALID', `${file} cannot be read`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw unreadable(file);
  }
}

function unreadable(file: string): InstallError {
  return new InstallError('DEVICE_STATE_INVALID', `${file} is not what the RAUC installer writes`);
}
