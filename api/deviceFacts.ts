import type { DeviceRecord } from '../infra/devices';
import type { DeviceFacts } from './eligibility';

/**
 * What eligibility judges, from the fleet store: identity, enrollment, groups, tags,
 * hardware and channel as enrolled, the last verified attestation (and its integrity
 * flags). Only the running version comes from the device's own word (its poll).
 */
export function deviceFacts(d: DeviceRecord, currentVersion = d.currentVersion): DeviceFacts {
  const measured = d.attestation?.measurements as { integrity?: Record<string, boolean> } | undefined;
  return {
    deviceId: d.deviceId,
    hardwareId: d.hardwareId ?? '',
    channel: d.channel ?? '',
    status: d.status === 'enrolled' ? 'enrolled' : d.status === 'revoked' ? 'revoked' : 'pending',
    groups: d.groups,
    tags: d.tags,
    currentVersion,
    ...(measured?.integrity ? { integrity: measured.integrity } : {}),
    ...(d.attestation ? { attestation: { verifiedAt: d.attestation.verifiedAt, passed: d.attestation.passed, reason: d.attestation.reason } } : {}),
  };
}
