import { Router, json } from 'express';
import type { Devices } from '../infra/devices';
import type { FleetCa } from '../infra/fleetCa';
import { deviceAuth, deviceOf, sameDevice } from './auth';
import { validateBody } from './validate';

export interface IdentityRouteDeps {
  devices: Devices;
  ca: FleetCa;
  deviceCertHours: number;
}

/**
 * Enrollment (a one-time token and a CSR buy a certificate naming the device) and renewal
 * (over mutual TLS with the current certificate, which stops working once replaced).
 */
export function identityRoutes(deps: IdentityRouteDeps): Router {
  const r = Router();
  const body = json({ limit: 16 * 1024 });

  r.post('/v1/enroll', body, validateBody('Enroll'), async (req, res) => {
    const b = req.body as { token: string; deviceId: string; csr: string; currentVersion?: string };
    const grant = await deps.devices.consumeToken(b.token);
    // The token names the device; a CSR for another id gets nothing (the token stays spent).
    if (grant.deviceId !== b.deviceId) {
      res.status(403).json({ error: { code: 'ENROLLMENT_REFUSED', message: `this token enrolls ${grant.deviceId}, not ${b.deviceId}` } });
      return;
    }
    const cert = deps.ca.signDeviceCsr(b.csr, grant.deviceId, deps.deviceCertHours);
    await deps.devices.enroll(grant, { serial: cert.serial.toLowerCase(), notAfter: cert.notAfter }, b.currentVersion ?? '0.0.0');
    res.status(201).json({ certificate: cert.certPem, deviceId: grant.deviceId, notAfter: cert.notAfter.toISOString() });
  });

  r.post('/v1/devices/renew', deviceAuth(deps.devices), body, validateBody('Renew'), async (req, res) => {
    const b = req.body as { deviceId: string; csr: string };
    sameDevice(res, b.deviceId);
    const device = deviceOf(res);
    const cert = deps.ca.signDeviceCsr(b.csr, device.deviceId, deps.deviceCertHours);
    await deps.devices.renew(device.deviceId, device.certSerial!, { serial: cert.serial.toLowerCase(), notAfter: cert.notAfter });
    res.status(201).json({ certificate: cert.certPem, deviceId: device.deviceId, notAfter: cert.notAfter.toISOString() });
  });

  return r;
}
