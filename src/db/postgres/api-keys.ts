import { timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { activeMatching, hashOf, keyInfoColumns, mintKey } from '../shared/keys.js';
import type { ApiKeyInfo } from '../contract.js';
import type { ApiKeyStore } from '../contract.js';
import type { ApiKeyRole } from '../rows.js';
import { apiKeys } from './schema.js';
import type { PgDb } from './open.js';

const INFO = keyInfoColumns(apiKeys);

/** API keys in Postgres: as the SQLite store (src/db/sqlite/api-keys.ts), only hashes are kept. */
export class PgApiKeyStore implements ApiKeyStore {
  private hadKey = false;

  constructor(private readonly db: PgDb) {}

  async create(name: string, role: ApiKeyRole, now = Date.now()): Promise<{ key: string; info: ApiKeyInfo }> {
    const { key, info } = mintKey(name, role, now);
    await this.db.insert(apiKeys).values({ ...info, secretHash: hashOf(key) });
    return { key, info };
  }

  list(): Promise<ApiKeyInfo[]> {
    return this.db.select(INFO).from(apiKeys).orderBy(desc(apiKeys.createdAt));
  }

  async revoke(idOrName: string, now = Date.now()): Promise<number> {
    const byId = await this.db
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.id, idOrName), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    if (byId.length > 0) return byId.length;
    const byName = await this.db
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.name, idOrName), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return byName.length;
  }

  async anyActive(): Promise<boolean> {
    return (
      (await this.db.select({ id: apiKeys.id }).from(apiKeys).where(isNull(apiKeys.revokedAt)).limit(1)).length > 0
    );
  }

  /** Latched, as in SQLite: keys are never deleted, so once true it stays true. */
  async everCreated(): Promise<boolean> {
    if (!this.hadKey) this.hadKey = (await this.db.select({ id: apiKeys.id }).from(apiKeys).limit(1)).length > 0;
    return this.hadKey;
  }

  async matching(idOrName: string): Promise<ApiKeyInfo[]> {
    return activeMatching(await this.list(), idOrName);
  }

  async isActive(id: string): Promise<boolean> {
    return (
      (
        await this.db
          .select({ id: apiKeys.id })
          .from(apiKeys)
          .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      ).length > 0
    );
  }

  async verify(presented: string, now = Date.now()): Promise<ApiKeyInfo | undefined> {
    const hash = hashOf(presented);
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.secretHash, hash));
    if (!row || row.revokedAt !== null) return undefined;
    if (!timingSafeEqual(Buffer.from(row.secretHash, 'hex'), Buffer.from(hash, 'hex'))) return undefined;
    if (row.lastUsedAt === null || now - row.lastUsedAt > 60_000) {
      await this.db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, row.id));
    }
    const { secretHash: _omit, ...info } = row;
    return info;
  }
}
