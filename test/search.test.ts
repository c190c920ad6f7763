import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { ownerToken } from '../src/db/sqlite/session-queries.js';
import { MAX_SEARCH_SCAN } from '../src/db/shared/session-filter.js';
import { asKey, createHarness, jsonOf, listedIds, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

// Text search across owners (issue 10, point 4): a user's search must ask the index for
// that user's messages only, so that its work does not grow with what other owners wrote.
// `scanned` (matching messages read) makes that measurable without timing. On both stores;
// SQLite's own index (FTS5, its migrations) is tested in search-fts5.test.ts.
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
    const { sessionId } = await seedSession(h.database, {
      keyId: bobs ? id.bob : null,
      at: T0 + i * 60_000,
      turns: [{ prompt: `where is the needle ${i}`, reply: `the needle is here ${i}` }],
    });
    (bobs ? owned.bob : owned.none).unshift(sessionId);
    if (i % 13 === 6) {
      const mine = await seedSession(h.database, {
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

const as = (k: string, path: string, init: RequestInit = {}) => asKey(h, k, path, init);
const ids = (k: string, query: string) => listedIds(h, k, query);
/** Session ids in the API's order: creation time, then id, newest first. */
const newestFirst = async (sessionIds: string[]) =>
  (await Promise.all(sessionIds.map(async (s) => (await h.service.transcripts.getSession(s))!)))
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
    const queries = h.database.sessions;
    // 600 messages of others contain the word; today's walk read them all to answer [].
    expect(await queries.listSessions({ q: 'needle', ownerKeyId: id.nobody }, 50)).toEqual({
      items: [],
      nextCursor: null,
      scanned: 0,
    });
    expect((await queries.listSessions({ q: 'the needle', ownerKeyId: id.nobody }, 50)).scanned).toBe(0);
    expect(await ids(key.nobody, 'q=needle')).toEqual([]);
  });

  it('reads only its own matches, and finds only its own sessions', async () => {
    const queries = h.database.sessions;
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
      await seedSession(h.database, { keyId: id.bob, turns: [{ prompt: 'needle again', reply: 'needle' }] });
    } while (cursor);
    expect(seen).toEqual(owned.alice);
    const fresh = await seedSession(h.database, {
      keyId: id.alice,
      turns: [{ prompt: 'one more needle for alice', reply: 'ok' }],
    });
    expect((await ids(key.alice, 'q=needle&limit=1'))[0]).toBe(fresh.sessionId);
    owned.alice.unshift(fresh.sessionId);
  });
});

describe('search by an admin key', () => {
  it('finds every owner’s sessions, and only one owner’s with owner=', async () => {
    const everyone = await allPages(key.admin, 'q=needle+is+here&limit=50');
    expect(everyone).toEqual(await newestFirst([...owned.bob, ...owned.none]));
    expect(await allPages(key.admin, `q=needle&owner=${id.alice}&limit=7`)).toEqual(owned.alice);
    const queries = h.database.sessions;
    expect(await queries.listSessions({ q: 'alice', ownerKeyId: id.bob }, 50)).toEqual({
      items: [],
      nextCursor: null,
      scanned: 0,
    });
  });

  it('pages with other filters too, none lost or repeated', async () => {
    const to = T0 + 150 * 60_000;
    const inWindow = async (s: string) => {
      const at = (await h.service.transcripts.getSession(s))!.createdAt;
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
      ...[
        '"',
        '""',
        'a"b',
        '"needle"',
        'needle"',
        'NEAR(needle here)',
        'needle OR alice',
        'needle AND',
        'needle NOT here',
      ],
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

describe('the bound on a search’s work', () => {
  it('refuses a page that needs more than maxSearchScan matches, rather than answering part of it', async () => {
    const queries = await h.sessionQueries({ maxSearchScan: 50 });
    // No bob session failed: the walk would read all of his ~450 matches to find none.
    const tooBroad = () => queries.listSessions({ q: 'needle', ownerKeyId: id.bob, status: 'failed' }, 10);
    await expect(tooBroad()).rejects.toThrow(AppError);
    await expect(tooBroad()).rejects.toThrow(/^q: more than 50 matching messages/);
    // The newest page stops early; `from` stops the walk as well.
    expect((await queries.listSessions({ q: 'needle', ownerKeyId: id.bob }, 10)).scanned).toBeLessThanOrEqual(50);
    const recent = await queries.listSessions(
      { q: 'needle', ownerKeyId: id.bob, status: 'failed', from: Date.now() - 60_000 },
      10,
    );
    expect(recent.items).toEqual([]);
    expect(recent.scanned).toBeLessThan(50);
  });

  it(`answers 400 INVALID_QUERY past ${MAX_SEARCH_SCAN} matches, and pages normally below`, async () => {
    const f = createHarness();
    try {
      const admin = (await f.service.keys.create('root', 'admin')).key;
      // MAX_SEARCH_SCAN + 2 matching messages, inserted in bulk (SQL both stores speak).
      const n = MAX_SEARCH_SCAN / 2 + 1;
      const numbers = 'with recursive n(i) as (select 0 union all select i + 1 from n where i < ?)';
      const at = 'cast(? as bigint) + i * 1000';
      await f.rows(
        `${numbers} insert into sessions (id, agent, owner_key_id, created_at, updated_at, turns, last_status)
        select 'ses_flood' || i, 'shell', null, ${at}, ${at} + 1, 1, 'succeeded' from n`,
        n - 1,
        T0,
        T0,
      );
      await f.rows(
        `${numbers} insert into runs (id, session_id, agent, image, status, timeout_ms, created_at, ended_at)
        select 'run_flood' || i, 'ses_flood' || i, 'shell', 'seed', 'succeeded', 1000, ${at}, ${at} + 1 from n`,
        n - 1,
        T0,
        T0,
      );
      await f.rows(
        `${numbers} insert into messages (session_id, run_id, role, content, created_at)
        select 'ses_flood' || i, 'run_flood' || i, 'user', 'flood ' || i, ${at} from n
        union all select 'ses_flood' || i, 'run_flood' || i, 'assistant', 'flood back', ${at} + 1 from n`,
        n - 1,
        T0,
        T0,
      );
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
