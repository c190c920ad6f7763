import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyInfo } from '../contract.js';
import type { ApiKeyRole } from '../rows.js';

/** A key's listed columns, never its hash, in either database's schema. */
export function keyInfoColumns<T extends Record<keyof ApiKeyInfo, unknown>>(t: T) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    prefix: t.prefix,
    createdAt: t.createdAt,
    revokedAt: t.revokedAt,
    lastUsedAt: t.lastUsedAt,
  } as Pick<T, keyof ApiKeyInfo>;
}

/** A new key and what is listed of it (its secret is shown once, then only its hash is kept). */
export function mintKey(name: string, role: ApiKeyRole, now: number): { key: string; info: ApiKeyInfo } {
  const id = `key_${randomBytes(6).toString('hex')}`;
  const key = `eph_${id.slice(4)}_${randomBytes(24).toString('base64url')}`;
  return { key, info: { id, name, role, prefix: key.slice(0, 20), createdAt: now, revokedAt: null, lastUsedAt: null } };
}

/** The active keys `revoke(idOrName)` takes: the one with that id, else those with that name. */
export function activeMatching(keys: ApiKeyInfo[], idOrName: string): ApiKeyInfo[] {
  const active = keys.filter((k) => k.revokedAt === null);
  const byId = active.filter((k) => k.id === idOrName);
  return byId.length > 0 ? byId : active.filter((k) => k.name === idOrName);
}

export const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
