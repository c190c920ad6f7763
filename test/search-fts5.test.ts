import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteSessionQueries, ownerToken } from '../src/db/sqlite/session-queries.js';
import { openDatabase } from '../src/db/sqlite/open.js';
import { asKey, createHarness, listedIds, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

// SQLite's own search index: the FTS5 table holding each message under its owner, kept by
// triggers, and what migration 0009 filled it from. search.test.ts tests search itself, on
// both stores; this file reads the SQLite file, so it runs in the `integration` project only.
let h: Harness;
const key = { admin: '', alice: '' };
const id = { alice: '', bob: '', nobody: '' };
const owned: { alice: string[] } = { alice: [] };

beforeAll(async () => {
  h = createHarness();
  key.admin = (await h.service.keys.create('root', 'admin')).key;
  for (const name of ['alice', 'bob', 'nobody'] as const) {
    const k = await h.service.keys.create(name, 'user');
    if (name === 'alice') key.alice = k.key;
    id[name] = k.info.id;
  }
  // 60 sessions: alice's and bob's in turn, and every third without an owner; two messages each.
  for (let i = 0; i < 60; i++) {
    const keyId = i % 3 === 2 ? null : i % 3 === 0 ? id.alice : id.bob;
    const { sessionId } = await seedSession(h.database, {
      keyId,
      turns: [
        {
          prompt: `where is the needle ${i} again`,
          reply: keyId === id.alice ? `here alice ${i}` : `the needle is here ${i}`,
        },
      ],
    });
    if (keyId === id.alice) owned.alice.unshift(sessionId);
  }
});
afterAll(() => h.close());

const as = (k: string, path: string, init: RequestInit = {}) => asKey(h, k, path, init);
const ids = (k: string, query: string) => listedIds(h, k, query);

describe('the owner index (migration 0009)', () => {
  const c = () => h.db.$client;
  /** Message ids the index holds for an owner, and those the tables say it owns. */
  const indexed = (keyId: string) =>
    c()
      .prepare(`select rowid from messages_fts where messages_fts match ? order by rowid`)
      .pluck()
      .all(`owner : "${ownerToken(keyId)}"`);
  const stored = (keyId: string) =>
    c()
      .prepare(
        'select m.id from messages m join sessions s on s.id = m.session_id where s.owner_key_id = ? order by m.id',
      )
      .pluck()
      .all(keyId);

  it('holds each message under its session’s owner, through new turns and deletions', async () => {
    for (const k of [id.alice, id.bob]) expect(indexed(k)).toEqual(stored(k));
    expect(indexed(id.alice)).toHaveLength(40);
    expect(indexed(id.nobody)).toEqual([]);
    // Deleting a session removes its messages by cascade, after the session row is gone.
    const gone = owned.alice.pop()!;
    expect((await as(key.admin, `/v1/sessions/${gone}`, { method: 'DELETE' })).status).toBe(204);
    expect(await ids(key.alice, 'q=needle&limit=200')).toEqual(owned.alice);
    for (const k of [id.alice, id.bob]) expect(indexed(k)).toEqual(stored(k));
    c().prepare(`insert into messages_fts(messages_fts) values ('integrity-check')`).run();
  });

  it('fills from messages_search to what the triggers keep (the backfill of migration 0009)', () => {
    const answers = () =>
      [id.alice, id.bob]
        .map(indexed)
        .concat(
          ['needle', 'alice', 'here', 'again'].map((w) =>
            c()
              .prepare(`select rowid from messages_fts where messages_fts match ? order by rowid`)
              .pluck()
              .all(`content : "${w}"`),
          ),
        );
    const kept = answers();
    const fill = readFileSync('migrations/0009_search_by_owner.sql', 'utf8')
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('INSERT INTO'));
    expect(fill).toHaveLength(1);
    c().exec(`insert into messages_fts(messages_fts) values ('delete-all')`);
    expect(indexed(id.alice)).toEqual([]);
    c().exec(fill[0]!);
    expect(answers()).toEqual(kept);
  });
});

describe('migrating a database written before 0009', () => {
  it('indexes the messages it already holds under their owners', async () => {
    // Migrations 0000-0008 only, from a copy of the folder with a shorter journal.
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-0008-'));
    try {
      cpSync('migrations', join(dir, 'migrations'), { recursive: true });
      const journalPath = join(dir, 'migrations/meta/_journal.json');
      const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
      journal.entries = journal.entries.filter((e) => e.tag < '0009');
      writeFileSync(journalPath, JSON.stringify(journal));
      const path = join(dir, 'old.db');
      const old = new Database(path);
      migrate(drizzle(old), { migrationsFolder: join(dir, 'migrations') });
      old.exec(`insert into sessions (id, agent, owner_key_id, created_at, updated_at) values
        ('ses_a', 'shell', 'key_alice', 1, 1), ('ses_b', 'shell', 'key_bob', 2, 2), ('ses_n', 'shell', null, 3, 3)`);
      old.exec(`insert into runs (id, session_id, agent, image, status, timeout_ms, created_at) values
        ('run_a', 'ses_a', 'shell', 'x', 'succeeded', 1, 1), ('run_b', 'ses_b', 'shell', 'x', 'succeeded', 1, 2),
        ('run_n', 'ses_n', 'shell', 'x', 'succeeded', 1, 3)`);
      old.exec(`insert into messages (session_id, run_id, role, content, created_at) values
        ('ses_a', 'run_a', 'user', 'old words', 1), ('ses_b', 'run_b', 'user', 'old words', 2), ('ses_n', 'run_n', 'user', 'old words', 3)`);
      old.close();
      const db = openDatabase(path);
      try {
        const queries = new SqliteSessionQueries(db);
        const found = async (ownerKeyId?: string) =>
          (
            await queries.listSessions({ q: 'old words', ...(ownerKeyId !== undefined && { ownerKeyId }) }, 10)
          ).items.map((s) => s.id);
        expect(await found('key_alice')).toEqual(['ses_a']);
        expect(await found('key_bob')).toEqual(['ses_b']);
        expect(await found()).toEqual(['ses_n', 'ses_b', 'ses_a']);
      } finally {
        db.$client.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
