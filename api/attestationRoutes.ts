import { readFile } from 'node:fs/promises';

import { Router } from 'express';

import { ServerError } from '../common/errors';
import { type AttestationPolicy, verifyEvidence } from '../fleet/attestation';
import type { Devices } from '../infra/devices';
import { deviceAuth, deviceOf } from './auth';
import { bodyField, jsonBody } from './untrusted';

export interface AttestationRouteDeps {
  devices: Devices;
  /** PEM bundle of the manufacturer CAs; read on each use, so a new bundle needs no restart. */
  manufacturerRoots?: string;
  attestationPolicy: AttestationPolicy;
  nonceMaxAgeMs: number;
}

const MAX_EVIDENCE_BYTES = 16 * 1024;

/**
 * Remote attestation over mutual TLS: a fresh single-use nonce, then evidence signed by the
 * device's attestation key (certified by a manufacturer CA). The verdict is stored with the
 * device and read by eligibility; evidence that does not verify replaces an earlier pass.
 */
export function attestationRoutes(deps: AttestationRouteDeps): Router {
  const r = Router();
  const device = deviceAuth(deps.devices);

  r.post('/v1/attestation/nonce', device, async (_req, res) => {
    const nonce = await deps.devices.issueNonce(deviceOf(res).deviceId);
    res.status(201).json({ nonce, expiresInMs: deps.nonceMaxAgeMs });
  });

  r.post('/v1/attestation', device, jsonBody(MAX_EVIDENCE_BYTES), async (req, res) => {
    const deviceId = deviceOf(res).deviceId;
    const given = bodyField(req, 'nonce');
    const nonce = typeof given === 'string' ? given : '';
    const verifiedAt = new Date().toISOString();
    try {
      await deps.devices.consumeNonce(deviceId, nonce, deps.nonceMaxAgeMs);
      // After the nonce: evidence for no nonce of ours is refused (403), configured or not, never a 503.
      const roots = await manufacturerRoots(deps.manufacturerRoots);
      const result = verifyEvidence(req.body, {
        manufacturerRoots: roots,
        expectedNonce: nonce,
        deviceId,
        now: new Date(),
        policy: deps.attestationPolicy,
      });
      await deps.devices.setAttestation(deviceId, {
        verifiedAt,
        passed: result.passed,
        reason: result.reason,
        measurements: result.measurements,
      });
      res
        .status(result.passed ? 200 : 403)
        .json(
          result.passed
            ? { passed: true, reason: result.reason }
            : { error: { code: result.code, message: result.reason }, passed: false },
        );
    } catch (err) {
      if (err instanceof ServerError && err.code.startsWith('ATTESTATION_')) {
        await deps.devices.setAttestation(deviceId, {
          verifiedAt,
          passed: false,
          reason: `${err.code}: ${err.message}`,
        });
      }
      throw err;
    }
  });
  return r;
}

/** The manufacturer CA certificates in `file` (OTA_MANUFACTURER_CA); 503 when none are configured. */
export async function manufacturerRoots(file: string | undefined): Promise<string[]> {
  if (!file) throw new ServerError('UNAVAILABLE', 'attestation is not configured (OTA_MANUFACTURER_CA)');
  const text = await readFile(file, 'utf8').catch(() => '');
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new ServerError('UNAVAILABLE', `no manufacturer CA certificates in ${file}`);
  return pems;
}
