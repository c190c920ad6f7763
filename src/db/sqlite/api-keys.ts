import type { ApiKeyInfo, ApiKeyStore } from '../contract.js';
import { timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Db } from './open.js';
import { apiKeys } from './schema.js';
import type { ApiKeyRole } from '../rows.js';
import { activeMatching, hashOf, keyInfoColumns, mintKey } from '../shared/keys.js';

/**
 * API keys. A key is `eph_<id>_<secret>`; only the SHA-256 of the whole key is stored,
 * so the database cannot give a key away. Keys are random (192 bits), so a plain hash
 * is enough (no password-style stretching needed).
 */
export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: Db) {}

  async create(name: string, role: ApiKeyRole, now = Date.now()): Promise<{ key: string; info: ApiKeyInfo }> {
    const { key, info } = mintKey(name, role, now);
    this.db
      .insert(apiKeys)
      .values({ ...info, secretHash: hashOf(key) })
      .run();
    return { key, info };
  }

  async list(): Promise<ApiKeyInfo[]> {
    return this.db.select(keyInfoColumns(apiKeys)).from(apiKeys).orderBy(desc(apiKeys.createdAt)).all();
  }

  /** Revokes by id or by name; returns how many keys it revoked. */
  async revoke(idOrName: string, now = Date.now()): Promise<number> {
    const byId = this.db
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.id, idOrName), isNull(apiKeys.revokedAt)))
      .run();
    if (byId.changes > 0) return byId.changes;
    return this.db
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.name, idOrName), isNull(apiKeys.revokedAt)))
      .run().changes;
  }

  /** Whether any key is active. */
  async anyActive(): Promise<boolean> {
    return (
      this.db.select({ id: apiKeys.id }).from(apiKeys).where(isNull(apiKeys.revokedAt)).limit(1).get() !== undefined
    );
  }

  /**
   * Whether a key was ever created, revoked or not. Once one was, the service never
   * serves without a key again (revoking the last one must not open it up). Latched:
   * keys are never deleted, so the answer cannot go back to false.
   */
  async everCreated(): Promise<boolean> {
    if (!this.hadKey) this.hadKey = this.db.select({ id: apiKeys.id }).from(apiKeys).limit(1).get() !== undefined;
    return this.hadKey;
  }
  private hadKey = false;

  /** The active keys that `revoke(idOrName)` would revoke. */
  async matching(idOrName: string): Promise<ApiKeyInfo[]> {
    return activeMatching(await this.list(), idOrName);
  }

  /** Whether the key with this id exists and is not revoked (a long-lived WebSocket asks before each prompt). */
  async isActive(id: string): Promise<boolean> {
    return (
      this.db
        .select({ id: apiKeys.id })
        .from(apiKeys)
        .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
        .get() !== undefined
    );
  }

  /** The active key a presented secret belongs to, or undefined. */
  async verify(presented: string, now = Date.now()): Promise<ApiKeyInfo | undefined> {
    const hash = hashOf(presented);
    const row = this.db.select().from(apiKeys).where(eq(apiKeys.secretHash, hash)).get();
    if (!row || row.revokedAt !== null) return undefined;
    // The lookup is by hash; compare once more in constant time for good measure.
    if (!timingSafeEqual(Buffer.from(row.secretHash, 'hex'), Buffer.from(hash, 'hex'))) return undefined;
    if (row.lastUsedAt === null || now - row.lastUsedAt > 60_000) {
      this.db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, row.id)).run();
    }
    const { secretHash: _omit, ...info } = row;
    return info;
  }
}
