import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { SqliteSessionQueries, MAX_SEARCH_SCAN, ownerToken } from '../src/db/session-queries.js';
import { openDatabase } from '../src/db/open.js';
import { createHarness, jsonOf, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

// Text search across owners (issue 10, point 4): a user's search must ask the index for
// that user's messages only, so that its work does not grow with what other owners wrote.
// `scanned` (matching messages read) makes that measurable without timing.
let h: Harness;
const T0 = Date.UTC(2026, 10, 1);
const key = { admin: '', alice: '', bob: '', nobody: '' };
const id = { alice: '', bob: '', nobody: '' };
/** Newest first, as the API lists them. */
const owned: { alice: string[]; bob: string[]; none: string[] } = { alice: [], bob: [], none: [] };

beforeAll(async () => {
  h = createHarness();
  key.admin = (await h.service.keys.create('root', 'admin')).key;
  for (const name of ['alice', 'bob', 'nobody'] as const) {
    const k = await h.service.keys.create(name, 'user');
    key[name] = k.key;
    id[name] = k.info.id;
  }
  // 300 sessions of others (bob, and no owner), two matching messages each; 23 of alice's,
  // one match each, in between. `nobody` owns nothing.
  for (let i = 0; i < 300; i++) {
    const bobs = i % 2 === 0;
    const { sessionId } = await seedSession(h.db, {
      keyId: bobs ? id.bob : null,
      at: T0 + i * 60_000,
      turns: [{ prompt: `where is the needle ${i}`, reply: `the needle is here ${i}` }],
    });
    (bobs ? owned.bob : owned.none).unshift(sessionId);
    if (i % 13 === 6) {
      const mine = await seedSession(h.db, {
        keyId: id.alice,
        at: T0 + i * 60_000 + 30_000,
        turns: [{ prompt: `a needle for alice ${i}`, reply: 'noted' }],
      });
      owned.alice.unshift(mine.sessionId);
    }
  }
  expect(owned.alice).toHaveLength(23);
});
afterAll(() => h.close());

const as = (k: string, path: string, init: RequestInit = {}) =>
  h.app.request(new Request(`http://local${path}`, { ...init, headers: { authorization: `Bearer ${k}` } }));
const ids = async (k: string, query: string) => {
  const res = await as(k, `/v1/sessions?${query}`);
  expect(res.status, query).toBe(200);
  return ((await jsonOf(res)).items as Array<{ id: string }>).map((s) => s.id);
};
/** Session ids in the API's order: creation time, then id, newest first. */
const newestFirst = async (sessionIds: string[]) =>
  (await Promise.all(sessionIds.map(async (s) => (await h.service.store.getSession(s))!)))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
    .map((s) => s.id);
/** Every page of a listing, following next_cursor. */
const allPages = async (k: string, query: string) => {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await as(k, `/v1/sessions?${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    const page: { items: Array<{ id: string }>; next_cursor: string | null } = await jsonOf(res);
    seen.push(...page.items.map((s) => s.id));
    cursor = page.next_cursor;
  } while (cursor);
  return seen;
};

describe('search by a user key', () => {
  it('reads none of the other owners’ matches when the user owns nothing', async () => {
    const queries = new SqliteSessionQueries(h.db);
    // 600 messages of others contain the word; today's walk read them all to answer [].
    expect((await queries.listSessions({ q: 'needle', ownerKeyId: id.nobody }, 50))).toEqual({ items: [], nextCursor: null, scanned: 0 });
    expect((await queries.listSessions({ q: 'the needle', ownerKeyId: id.nobody }, 50)).scanned).toBe(0);
    expect(await ids(key.nobody, 'q=needle')).toEqual([]);
  });

  it('reads only its own matches, and finds only its own sessions', async () => {
    const queries = new SqliteSessionQueries(h.db);
    const page = await queries.listSessions({ q: 'needle', ownerKeyId: id.alice }, 200);
    expect(page.items.map((s) => s.id)).toEqual(owned.alice);
    expect(page.scanned).toBe(23); // one match per session of hers; none of the 600 others
    expect(await ids(key.alice, 'q=needle&limit=200')).toEqual(owned.alice);
    expect(await ids(key.bob, 'q=needle&limit=200')).toEqual(owned.bob);
    expect(await ids(key.bob, 'q=alice&limit=200')).toEqual([]);
    // A user cannot widen the search to another owner.
    expect((await as(key.bob, `/v1/sessions?q=needle&owner=${id.alice}`)).status).toBe(400);
  });

  it('pages through its own results newest first, none lost or repeated, while sessions are added', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = await jsonOf(
        as(key.alice, `/v1/sessions?q=needle&limit=4${cursor ? `&cursor=${cursor}` : ''}`),
      );
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next_cursor;
      // others keep writing the word between pages, and so does she
      await seedSession(h.db, { keyId: id.bob, turns: [{ prompt: 'needle again', reply: 'needle' }] });
    } while (cursor);
    expect(seen).toEqual(owned.alice);
    const fresh = await seedSession(h.db, { keyId: id.alice, turns: [{ prompt: 'one more needle for alice', reply: 'ok' }] });
    expect((await ids(key.alice, 'q=needle&limit=1'))[0]).toBe(fresh.sessionId);
    owned.alice.unshift(fresh.sessionId);
  });
});

describe('search by an admin key', () => {
  it('finds every owner’s sessions, and only one owner’s with owner=', async () => {
    const everyone = await allPages(key.admin, 'q=needle+is+here&limit=50');
    expect(everyone).toEqual(await newestFirst([...owned.bob, ...owned.none]));
    expect(await allPages(key.admin, `q=needle&owner=${id.alice}&limit=7`)).toEqual(owned.alice);
    const queries = new SqliteSessionQueries(h.db);
    expect((await queries.listSessions({ q: 'alice', ownerKeyId: id.bob }, 50))).toEqual({ items: [], nextCursor: null, scanned: 0 });
  });

  it('pages with other filters too, none lost or repeated', async () => {
    const to = T0 + 150 * 60_000;
    const inWindow = async (s: string) => {
      const at = (await h.service.store.getSession(s))!.createdAt;
      return at >= T0 + 20 * 60_000 && at < to;
    };
    const all = [...owned.bob, ...owned.none, ...owned.alice];
    const kept = await Promise.all(all.map(inWindow));
    const want = await newestFirst(all.filter((_, i) => kept[i]));
    expect(await allPages(key.admin, `q=needle&from=${T0 + 20 * 60_000}&to=${to}&limit=9`)).toEqual(want);
  });
});

describe('what q may hold', () => {
  it('takes quotes and FTS5 syntax as text: 200, or 400 at worst, never 500', async () => {
    const odd = [
      ...['"', '""', 'a"b', '"needle"', 'needle"', 'NEAR(needle here)', 'needle OR alice', 'needle AND', 'needle NOT here'],
      ...['*', 'needle*', '^needle', '-needle', '(', ')', '{content}: needle', 'content:needle', 'owner:x', ':', '+'],
      ...['\0', 'needle\0here', 'ünïcödé', '🙂'],
    ]
      .map(encodeURIComponent)
      .concat(['%ED%A0%80', '%FF', '%C3']); // not UTF-8
    for (const q of odd) {
      for (const k of [key.admin, key.alice]) {
        const res = await as(k, `/v1/sessions?q=${q}`);
        expect([200, 400], q).toContain(res.status);
      }
    }
    expect(await ids(key.alice, 'q=needle%00for&limit=200')).toEqual(owned.alice); // NUL separates words
    // FTS syntax is not interpreted: the words are looked for as one phrase.
    expect(await ids(key.alice, 'q=needle%20OR%20zebra')).toEqual([]);
    expect(await ids(key.alice, `q=${encodeURIComponent('"needle" for')}&limit=200`)).toEqual(owned.alice);
  });

  it('cannot reach the owner column: an owner token is not found as text', async () => {
    expect(await ids(key.admin, `q=${ownerToken(id.alice)}`)).toEqual([]);
    expect(await ids(key.admin, `q=${encodeURIComponent(`owner : ${ownerToken(id.alice)}`)}`)).toEqual([]);
  });
});

describe('the owner index (migration 0009)', () => {
  const c = () => h.db.$client;
  /** Message ids the index holds for an owner, and those the tables say it owns. */
  const indexed = (keyId: string) =>
    c().prepare(`select rowid from messages_fts where messages_fts match ? order by rowid`).pluck().all(`owner : "${ownerToken(keyId)}"`);
  const stored = (keyId: string) =>
    c().prepare('select m.id from messages m join sessions s on s.id = m.session_id where s.owner_key_id = ? order by m.id').pluck().all(keyId);

  it('holds each message under its session’s owner, through new turns and deletions', async () => {
    for (const k of [id.alice, id.bob]) expect(indexed(k)).toEqual(stored(k));
    expect(indexed(id.alice).length).toBeGreaterThan(40);
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
      [id.alice, id.bob].map(indexed).concat(
        ['needle', 'alice', 'here', 'again'].map((w) =>
          c().prepare(`select rowid from messages_fts where messages_fts match ? order by rowid`).pluck().all(`content : "${w}"`),
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
          (await queries.listSessions({ q: 'old words', ...(ownerKeyId !== undefined && { ownerKeyId }) }, 10)).items.map((s) => s.id);
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

describe('the bound on a search’s work', () => {
  it('refuses a page that needs more than maxSearchScan matches, rather than answering part of it', async () => {
    const queries = new SqliteSessionQueries(h.db, { maxSearchScan: 50 });
    // No bob session failed: the walk would read all of his ~450 matches to find none.
    const tooBroad = () => queries.listSessions({ q: 'needle', ownerKeyId: id.bob, status: 'failed' }, 10);
    await expect(tooBroad()).rejects.toThrow(AppError);
    await expect(tooBroad()).rejects.toThrow(/^q: more than 50 matching messages/);
    // The newest page stops early; `from` stops the walk as well.
    expect((await queries.listSessions({ q: 'needle', ownerKeyId: id.bob }, 10)).scanned).toBeLessThanOrEqual(50);
    const recent = await queries.listSessions({ q: 'needle', ownerKeyId: id.bob, status: 'failed', from: Date.now() - 60_000 }, 10);
    expect(recent.items).toEqual([]);
    expect(recent.scanned).toBeLessThan(50);
  });

  it(`answers 400 INVALID_QUERY past ${MAX_SEARCH_SCAN} matches, and pages normally below`, async () => {
    const f = createHarness();
    try {
      const admin = (await f.service.keys.create('root', 'admin')).key;
      // MAX_SEARCH_SCAN + 2 matching messages, inserted in bulk.
      const c = f.db.$client;
      const session = c.prepare(
        `insert into sessions (id, agent, owner_key_id, created_at, updated_at, turns, last_status)
         values (?, 'shell', null, ?, ?, 1, 'succeeded')`,
      );
      const run = c.prepare(
        `insert into runs (id, session_id, agent, image, status, timeout_ms, created_at, ended_at)
         values (?, ?, 'shell', 'seed', 'succeeded', 1000, ?, ?)`,
      );
      const message = c.prepare(`insert into messages (session_id, run_id, role, content, created_at) values (?, ?, ?, ?, ?)`);
      const n = MAX_SEARCH_SCAN / 2 + 1;
      c.transaction(() => {
        for (let i = 0; i < n; i++) {
          const at = T0 + i * 1000;
          const sid = `ses_${at.toString(36).padStart(9, '0')}${i.toString(16).padStart(20, '0')}`;
          const rid = `run_${at.toString(36).padStart(9, '0')}${i.toString(16).padStart(20, '0')}`;
          session.run(sid, at, at + 1);
          run.run(rid, sid, at, at + 1);
          message.run(sid, rid, 'user', `flood ${i}`, at);
          message.run(sid, rid, 'assistant', 'flood back', at + 1);
        }
      })();
      const get = (q: string) => f.app.request(`/v1/sessions?${q}`, { headers: { authorization: `Bearer ${admin}` } });
      const first = await get('q=flood&limit=200');
      expect(first.status).toBe(200);
      expect((await jsonOf(first)).items).toHaveLength(200);
      const res = await get('q=flood&status=failed');
      expect(res.status).toBe(400);
      const body = await jsonOf(res);
      expect(body.error.code).toBe('INVALID_QUERY');
      expect(body.error.message).toMatch(/narrow the search/);
    } finally {
      await f.close();
    }
  });
});
