import type { ApiKeyRole } from '../db/rows.js';

/** Who is calling: an API key and its role, or the keyless local operator. */
export interface Principal {
  keyId: string | null;
  role: ApiKeyRole;
}

/** With no API keys the service is loopback-only and whoever reaches it is the operator. */
export const LOCAL_OPERATOR: Principal = { keyId: null, role: 'admin' };

/** Whether a principal may see a session: admins see all, users only their own. */
export function canSee(p: Principal, session: { ownerKeyId: string | null }): boolean {
  return p.role === 'admin' || (p.keyId !== null && session.ownerKeyId === p.keyId);
}
