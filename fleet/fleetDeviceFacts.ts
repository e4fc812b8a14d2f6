import type { PollRequest } from '@enigm-ota/client-sdk';

import type { DeviceRecord } from '../common/adminApi';
import type { FleetDeviceFacts } from './eligibility';

/**
 * What eligibility judges, from the fleet store: identity, enrollment, groups, tags,
 * hardware and channel as enrolled, the last verified attestation (and its integrity
 * flags). From the poll only the running version, and what the device claims to be: a
 * claim that differs from the enrollment fails the identity check.
 */
export function fleetFactsOf(
  d: DeviceRecord,
  poll?: Pick<PollRequest, 'currentVersion' | 'hardwareId' | 'channel'>,
): FleetDeviceFacts {
  const measured = d.attestation?.measurements as { integrity?: Record<string, boolean> } | undefined;
  return {
    deviceId: d.deviceId,
    hardwareId: d.hardwareId ?? '',
    channel: d.channel ?? '',
    status: d.status === 'enrolled' ? 'enrolled' : d.status === 'revoked' ? 'revoked' : 'pending',
    groups: d.groups,
    tags: d.tags,
    currentVersion: poll?.currentVersion ?? d.currentVersion,
    ...(poll ? { claimed: { hardwareId: poll.hardwareId, channel: poll.channel } } : {}),
    ...(measured?.integrity ? { integrity: measured.integrity } : {}),
    ...(d.attestation
      ? {
          attestation: {
            verifiedAt: d.attestation.verifiedAt,
            passed: d.attestation.passed,
            reason: d.attestation.reason,
          },
        }
      : {}),
  };
}
