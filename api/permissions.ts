import type { OperatorRole } from '../common/adminApi';

/** What an admin request needs; each admin route names exactly one. */
export type Permission =
  | 'read'
  | 'release.create'
  | 'release.decide'
  | 'release.operate'
  | 'device.manage'
  | 'operator.manage'
  | 'metadata.manage'
  | 'webhook.manage'
  | 'events.record';

/**
 * The one table of who may do what. Release owners create and decide (the workflow still
 * refuses an owner approving their own release); operators run rollouts and the fleet;
 * viewers read; admins manage operators and webhooks and accept a restored storage (S-25);
 * the worker reads and records its releases' events, nothing else.
 */
export const GRANTS: Record<OperatorRole, readonly Permission[]> = {
  viewer: ['read'],
  operator: ['read', 'release.operate', 'device.manage'],
  'release-owner': ['read', 'release.create', 'release.decide'],
  admin: ['read', 'operator.manage', 'metadata.manage', 'webhook.manage'],
  worker: ['read', 'events.record'],
};

export function allowed(roles: readonly OperatorRole[], permission: Permission): boolean {
  return roles.some((r) => GRANTS[r]?.includes(permission));
}
