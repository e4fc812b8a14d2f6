import { randomBytes } from 'node:crypto';

import { isTagMap, isTargetingName, targetingLimits } from '@enigm-ota/client-sdk/targeting';

import type { AttestationRecord, DeviceRecord, DeviceStatus } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import { checkPattern } from '../common/validation';
import type { EventType } from '../common/webhookEvents';
import { DEVICE_ID } from './fleetCa';
import type { Sql } from './fleetStore';
import { newToken, tokenHash } from './operators';
import { oneTimeKey } from './webhookStore';

export interface EnrollmentGrant {
  deviceId: string;
  hardwareId: string;
  channel: string;
  groups: string[];
  tags: Record<string, string>;
}

const MAX_TOKEN_TTL_MS = 30 * 86_400_000;

/** A device's groups and tags follow the rules of the signed targeting they are matched against. */
function checkGroupsAndTags(groups: string[], tags: Record<string, string>): void {
  if (groups.length > targetingLimits.maxGroups || !groups.every(isTargetingName)) {
    throw new InputError(`groups: up to ${targetingLimits.maxGroups} names of letters, digits, ".", "_", ":", "-"`);
  }
  if (!isTagMap(tags))
    throw new InputError(
      `tags: up to ${targetingLimits.maxTags} key=value pairs (keys like group names, values up to 128 characters)`,
    );
}

interface DeviceRow {
  device_id: string;
  hardware_id: string | null;
  channel: string | null;
  status: DeviceStatus;
  groups_json: string;
  tags_json: string;
  current_version: string;
  cert_serial: string | null;
  cert_not_after: Date | null;
  enrolled_at: Date | null;
  revoked_at: Date | null;
  last_report_at: Date;
  attestation_json: string | null;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

const CACHE_LIMIT = 200_000;

/** How a replica tells the others sharing its store of a device change, and hears theirs (infra/changes.ts). */
export interface DeviceChangeFeed {
  notify(kind: 'device', deviceId: string): Promise<void>;
  /** `fn` gets the device changed, or nothing when any may have been. */
  onChange(kind: 'device', fn: (deviceId?: string) => void): void;
  listening(): boolean;
}

/**
 * Whether `authorize` may answer from memory. `exclusive`: this process owns the store
 * (PGlite), every change goes through this object, which drops the entry, so a revocation
 * applies to the very next request. `shared` (PostgreSQL): other replicas write too; each
 * change is notified with the device's id, every replica drops that record when told (all of
 * them when a notification names none, or after its listener reconnects), nothing is served from
 * memory while the listener is down, and an entry is read again after `maxAgeMs` whatever
 * was heard (the bound on a notification lost unnoticed; 0: every request reads the store, and
 * changes are still notified for replicas that keep records). `off`: every request reads the
 * store and nothing is notified (a store no other process serves devices from).
 */
export type DeviceCaching =
  { mode: 'exclusive' } | { mode: 'shared'; feed: DeviceChangeFeed; maxAgeMs: number } | { mode: 'off' };

/** Enrollment tokens, enrolled devices, their certificates and attestation nonces. */
export class Devices {
  /** Device records for `authorize`, the hot path of every device request, with when each was read. */
  private readonly cache = new Map<string, { record: DeviceRecord; readAt: number }>();

  constructor(
    private readonly sql: Sql,
    private readonly caching: DeviceCaching = { mode: 'off' },
  ) {
    if (caching.mode === 'shared') {
      caching.feed.onChange('device', (deviceId) => {
        this.epoch += 1;
        if (deviceId === undefined) this.cache.clear();
        else this.cache.delete(deviceId);
      });
    }
  }

  /** Bumped by every change, so a read that raced with one is not cached. */
  private epoch = 0;

  /** After a change is written: the next request here reads the store again, and so do other replicas' once told. */
  private async changed(deviceId: string): Promise<void> {
    this.epoch += 1;
    this.cache.delete(deviceId);
    if (this.caching.mode === 'shared') await this.caching.feed.notify('device', deviceId);
  }

  /** The record `authorize` may use without reading the store, if any. */
  private cached(deviceId: string): DeviceRecord | undefined {
    const { caching } = this;
    if (caching.mode === 'off') return undefined;
    const entry = this.cache.get(deviceId);
    if (!entry || caching.mode === 'exclusive') return entry?.record;
    if (!caching.feed.listening() || Date.now() - entry.readAt >= caching.maxAgeMs) {
      this.cache.delete(deviceId);
      return undefined;
    }
    return entry.record;
  }

  private remember(record: DeviceRecord, readAt: number): void {
    const { caching } = this;
    if (caching.mode === 'off') return;
    if (caching.mode === 'shared' && (caching.maxAgeMs === 0 || !caching.feed.listening())) return;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(record.deviceId, { record, readAt });
  }

  /**
   * A one-time enrollment token for one device id, expiring after `ttlMs`. Shown once. It ends
   * the device's earlier outstanding tokens, so a leftover one cannot enroll it later (S-20).
   */
  async createToken(
    grant: EnrollmentGrant,
    ttlMs: number,
    createdBy: string,
  ): Promise<{ token: string; expiresAt: string }> {
    if (!DEVICE_ID.test(grant.deviceId))
      throw new InputError('device id must be 1-128 letters, digits, ".", "_", ":" or "-"');
    checkPattern('hardwareId', grant.hardwareId);
    checkPattern('channel', grant.channel);
    checkGroupsAndTags(grant.groups, grant.tags);
    if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TOKEN_TTL_MS)
      throw new InputError('token lifetime must be 1 s to 30 days');
    const token = newToken('enroll');
    const expiresAt = new Date(Date.now() + ttlMs);
    // One statement: the earlier tokens end only if the new one is written, and neither happens
    // for a device enrolled in the meantime. An ended token reads as used (`consumeToken`).
    const made = await this.sql.query(
      `WITH enrolled AS (SELECT 1 FROM devices WHERE device_id = $2 AND status = 'enrolled'),
       ended AS (UPDATE enrollment_tokens SET used_at = now() WHERE device_id = $2 AND used_at IS NULL AND NOT EXISTS (SELECT 1 FROM enrolled))
       INSERT INTO enrollment_tokens (token_hash, device_id, hardware_id, channel, groups_json, tags_json, expires_at, created_by)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM enrolled)
       RETURNING token_hash`,
      [
        tokenHash(token),
        grant.deviceId,
        grant.hardwareId,
        grant.channel,
        JSON.stringify(grant.groups),
        JSON.stringify(grant.tags),
        expiresAt,
        createdBy,
      ],
    );
    if (made.rows.length === 0)
      throw new ServerError(
        'ALREADY_EXISTS',
        `device ${grant.deviceId} is enrolled; revoke it first to enroll it again`,
      );
    return { token, expiresAt: expiresAt.toISOString() };
  }

  /**
   * Why a token cannot enroll anything now (`unknown`, used, `expired`), or undefined when it
   * can: a read that spends nothing, so a token that names no device changes nothing.
   */
  async unusableToken(token: string): Promise<string | undefined> {
    const known = await this.sql.query<{ used_at: Date | null; expired: boolean }>(
      'SELECT used_at, expires_at <= now() AS expired FROM enrollment_tokens WHERE token_hash = $1',
      [tokenHash(token.slice(0, 200))],
    );
    const row = known.rows[0];
    if (!row) return 'unknown';
    if (row.used_at) return 'already used (or ended by a newer token or an enrollment)';
    return row.expired ? 'expired' : undefined;
  }

  /**
   * Marks the token used (atomically: two enrollments with one token cannot both win). Any
   * attempt that gets this far spends it, whatever is refused later (another device id, an
   * invalid CSR, a device enrolled already): the operator issues a new token.
   */
  async consumeToken(token: string): Promise<EnrollmentGrant> {
    const hash = tokenHash(token.slice(0, 200));
    const used = await this.sql.query<{
      device_id: string;
      hardware_id: string;
      channel: string;
      groups_json: string;
      tags_json: string;
    }>(
      `UPDATE enrollment_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
       RETURNING device_id, hardware_id, channel, groups_json, tags_json`,
      [hash],
    );
    const row = used.rows[0];
    if (!row)
      throw new ServerError(
        'ENROLLMENT_REFUSED',
        `enrollment token is ${(await this.unusableToken(token)) ?? 'just used'}`,
      );
    return {
      deviceId: row.device_id,
      hardwareId: row.hardware_id,
      channel: row.channel,
      groups: JSON.parse(row.groups_json) as string[],
      tags: JSON.parse(row.tags_json) as Record<string, string>,
    };
  }

  /**
   * S-20: enrolls a device that is not enrolled now (new, reported only, or revoked), and ends
   * its other outstanding tokens. An enrolled device is refused (`ENROLLMENT_REFUSED`) and keeps
   * its certificate: it needs `ota device revoke` first. The check is the upsert's own condition,
   * so of two enrollments at once (two tokens, or two replicas) exactly one wins.
   */
  async enroll(
    grant: EnrollmentGrant,
    cert: { serial: string; notAfter: Date },
    currentVersion: string,
  ): Promise<void> {
    // One statement: a new device's version is its first version change; a device enrolled
    // again (perhaps on another channel) keeps its history, counted on the channel it is on now.
    // Nothing but the refusal happens when `dev` writes no row.
    const done = await this.sql.query<{ enrolled: boolean }>(
      `WITH old AS (SELECT device_id FROM devices WHERE device_id = $1),
       dev AS (
         INSERT INTO devices (device_id, current_version, hardware_id, channel, status, groups_json, tags_json, cert_serial, cert_not_after, enrolled_at, revoked_at)
         VALUES ($1, $2, $3, $4, 'enrolled', $5, $6, $7, $8, now(), NULL)
         ON CONFLICT (device_id) DO UPDATE SET hardware_id = EXCLUDED.hardware_id, channel = EXCLUDED.channel, status = 'enrolled',
           groups_json = EXCLUDED.groups_json, tags_json = EXCLUDED.tags_json, cert_serial = EXCLUDED.cert_serial,
           cert_not_after = EXCLUDED.cert_not_after, enrolled_at = now(), revoked_at = NULL, attestation_json = NULL
         WHERE devices.status <> 'enrolled'
         RETURNING device_id),
       ended AS (
         UPDATE enrollment_tokens SET used_at = now() WHERE device_id = $1 AND used_at IS NULL AND EXISTS (SELECT 1 FROM dev)),
       first AS (
         INSERT INTO version_changes (device_id, channel, at, from_version, to_version)
         SELECT $1, $4, now(), NULL, $2 WHERE NOT EXISTS (SELECT 1 FROM old) AND EXISTS (SELECT 1 FROM dev)),
       moved AS (
         UPDATE version_changes SET channel = $4 WHERE device_id = $1 AND channel IS DISTINCT FROM $4 AND EXISTS (SELECT 1 FROM old) AND EXISTS (SELECT 1 FROM dev)),
       ev AS (${deviceEventSql('device.enrolled', { from: 'SELECT $1::text AS device_id, $4::text AS channel FROM dev', key: '$9', extra: { hardwareId: '$3::text' } })})
       SELECT EXISTS (SELECT 1 FROM dev) AS enrolled`,
      [
        grant.deviceId,
        currentVersion,
        grant.hardwareId,
        grant.channel,
        JSON.stringify(grant.groups),
        JSON.stringify(grant.tags),
        cert.serial,
        cert.notAfter,
        oneTimeKey(),
      ],
    );
    if (!done.rows[0]?.enrolled)
      throw new ServerError(
        'ENROLLMENT_REFUSED',
        `device ${grant.deviceId} is enrolled; revoke it first to enroll it again`,
      );
    await this.changed(grant.deviceId);
  }

  /** Renewal: the new certificate replaces the one presented; the old one stops working. */
  async renew(deviceId: string, oldSerial: string, cert: { serial: string; notAfter: Date }): Promise<void> {
    const done = await this.sql.query(
      `UPDATE devices SET cert_serial = $3, cert_not_after = $4 WHERE device_id = $1 AND cert_serial = $2 AND status = 'enrolled' RETURNING device_id`,
      [deviceId, oldSerial, cert.serial, cert.notAfter],
    );
    if (done.rows.length === 0)
      throw new ServerError('DEVICE_REVOKED', `device ${deviceId} cannot renew with this certificate`);
    await this.changed(deviceId);
  }

  /**
   * Every device request: the certificate must be the device's current one and the device
   * enrolled. From the store, or from memory as `DeviceCaching` allows: a revocation applies
   * to the very next call on this replica, and on the others once they hear of it.
   */
  async authorize(deviceId: string, serial: string): Promise<DeviceRecord> {
    let d = this.cached(deviceId);
    if (!d) {
      const [epoch, readAt] = [this.epoch, Date.now()];
      d = await this.get(deviceId);
      if (d && epoch === this.epoch) this.remember(d, readAt);
    }
    if (!d || d.status !== 'enrolled' || d.certSerial !== serial) {
      throw new ServerError(
        'DEVICE_REVOKED',
        `device ${deviceId} is ${d?.status === 'revoked' ? 'revoked' : 'not enrolled with this certificate'}`,
      );
    }
    return d;
  }

  /** Inventory labels after enrollment (`ota device label`); eligibility reads them on the next poll. */
  async label(deviceId: string, groups: string[], tags: Record<string, string>): Promise<DeviceRecord> {
    checkGroupsAndTags(groups, tags);
    const done = await this.sql.query(
      'UPDATE devices SET groups_json = $2, tags_json = $3 WHERE device_id = $1 RETURNING device_id',
      [deviceId, JSON.stringify(groups), JSON.stringify(tags)],
    );
    if (done.rows.length === 0) throw new ServerError('NOT_FOUND', `no device ${deviceId}`);
    await this.changed(deviceId);
    return (await this.get(deviceId))!;
  }

  /** Revokes an enrolled device; the `device.revoked` event is written in the same statement. */
  async revoke(deviceId: string, why: { actor: string; reason?: string }): Promise<DeviceRecord> {
    const done = await this.sql.query(
      `WITH dev AS (UPDATE devices SET status = 'revoked', revoked_at = now() WHERE device_id = $1 AND status = 'enrolled' RETURNING device_id, channel),
       ev AS (${deviceEventSql('device.revoked', { from: 'SELECT device_id, channel FROM dev', key: '$2', extra: { actor: '$3::text', reason: '$4::text' } })})
       SELECT device_id FROM dev`,
      [deviceId, oneTimeKey(), why.actor, why.reason ?? null],
    );
    if (done.rows.length === 0) throw new ServerError('NOT_FOUND', `no enrolled device ${deviceId}`);
    await this.changed(deviceId);
    return (await this.get(deviceId))!;
  }

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    const rows = await this.sql.query<DeviceRow>('SELECT * FROM devices WHERE device_id = $1', [deviceId]);
    return rows.rows[0] && toRecord(rows.rows[0]);
  }

  async list(filter: {
    status?: string;
    channel?: string;
    group?: string;
    prefix?: string;
    limit: number;
  }): Promise<DeviceRecord[]> {
    const like = `${(filter.prefix ?? '').replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.sql.query<DeviceRow>(
      `SELECT * FROM devices WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR channel = $2)
         AND ($3::text IS NULL OR groups_json::jsonb ? $3) AND device_id LIKE $4
       ORDER BY device_id LIMIT $5`,
      [filter.status ?? null, filter.channel ?? null, filter.group ?? null, like, filter.limit],
    );
    return rows.rows.map(toRecord);
  }

  /** A fresh single-use nonce for attestation evidence. */
  async issueNonce(deviceId: string): Promise<string> {
    const nonce = randomBytes(32).toString('base64url');
    await this.sql.query('INSERT INTO attestation_nonces (nonce, device_id) VALUES ($1, $2)', [nonce, deviceId]);
    return nonce;
  }

  /** Single use and short-lived: the nonce is spent by this call whatever the evidence says. */
  async consumeNonce(deviceId: string, nonce: string, maxAgeMs: number): Promise<void> {
    const spent = await this.sql.query<{ issued_at: Date }>(
      `UPDATE attestation_nonces SET used_at = now() WHERE nonce = $1 AND device_id = $2 AND used_at IS NULL RETURNING issued_at`,
      [nonce.slice(0, 100), deviceId],
    );
    const row = spent.rows[0];
    if (!row)
      throw new ServerError('ATTESTATION_NONCE_INVALID', 'nonce unknown, issued to another device, or already used');
    if (Date.now() - new Date(row.issued_at).getTime() > maxAgeMs)
      throw new ServerError('ATTESTATION_NONCE_INVALID', 'nonce expired');
  }

  async setAttestation(deviceId: string, result: AttestationRecord): Promise<void> {
    await this.sql.query('UPDATE devices SET attestation_json = $2 WHERE device_id = $1', [
      deviceId,
      JSON.stringify(result),
    ]);
    await this.changed(deviceId);
  }
}

function toRecord(r: DeviceRow): DeviceRecord {
  return {
    deviceId: r.device_id,
    hardwareId: r.hardware_id,
    channel: r.channel,
    status: r.status,
    groups: JSON.parse(r.groups_json) as string[],
    tags: JSON.parse(r.tags_json) as Record<string, string>,
    currentVersion: r.current_version,
    certSerial: r.cert_serial,
    certNotAfter: iso(r.cert_not_after),
    enrolledAt: iso(r.enrolled_at),
    revokedAt: iso(r.revoked_at),
    lastReportAt: iso(r.last_report_at)!,
    attestation: r.attestation_json ? (JSON.parse(r.attestation_json) as AttestationRecord) : null,
  };
}

/**
 * The INSERT of a device event into the webhook outbox, as a CTE of the statement that made
 * the change: both are written or neither (infra/migrations/010). `from` yields device_id and
 * channel; `key` is the placeholder of the event's one-time key; `extra` adds data fields.
 */
function deviceEventSql(
  type: Extract<EventType, `device.${string}`>,
  { from, key, extra = {} }: { from: string; key: string; extra?: Record<string, string> },
): string {
  const fields = Object.entries(extra)
    .map(([k, v]) => `, '${k}', ${v}`)
    .join('');
  return `INSERT INTO webhook_events (event_key, type, subject, channel, ordering_key, data)
         SELECT ${key}, '${type}', 'devices/' || c.device_id, c.channel, 'device:' || c.device_id,
                json_strip_nulls(json_build_object('deviceId', c.device_id, 'channel', c.channel${fields}))::text
         FROM (${from}) c`;
}
