import { and, asc, eq, lte, ne } from 'drizzle-orm';
import type { WebhookAttempt, WebhookStore } from '../contract.js';
import type { WebhookRow } from '../rows.js';
import type { Db } from './open.js';
import { runs, runWebhooks } from './schema.js';

/** Runs' webhooks in SQLite. */
export class SqliteWebhookStore implements WebhookStore {
  constructor(private readonly db: Db) {}

  async add(runId: string, url: string, now: number): Promise<void> {
    await this.db
      .insert(runWebhooks)
      .values({ runId, url, state: 'pending', attempts: 0, nextAttemptAt: now, createdAt: now })
      .run();
  }

  async due(now: number, limit: number): Promise<WebhookRow[]> {
    const rows = await this.db
      .select({ webhook: runWebhooks })
      .from(runWebhooks)
      .innerJoin(runs, eq(runs.id, runWebhooks.runId))
      .where(and(eq(runWebhooks.state, 'pending'), lte(runWebhooks.nextAttemptAt, now), ne(runs.status, 'running')))
      .orderBy(asc(runWebhooks.nextAttemptAt))
      .limit(limit)
      .all();
    return rows.map((r) => r.webhook);
  }

  async claim(runId: string, seenNextAttemptAt: number, until: number): Promise<boolean> {
    const q = this.db
      .update(runWebhooks)
      .set({ nextAttemptAt: until })
      .where(
        and(
          eq(runWebhooks.runId, runId),
          eq(runWebhooks.state, 'pending'),
          eq(runWebhooks.nextAttemptAt, seenNextAttemptAt),
        ),
      )
      .run();
    return (await q).changes > 0;
  }

  async attempted(runId: string, attempt: WebhookAttempt): Promise<void> {
    await this.db.update(runWebhooks).set(attempt).where(eq(runWebhooks.runId, runId)).run();
  }

  async get(runId: string): Promise<WebhookRow | undefined> {
    const [row] = await this.db.select().from(runWebhooks).where(eq(runWebhooks.runId, runId)).limit(1).all();
    return row;
  }
}
