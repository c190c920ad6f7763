import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { createHarness, jsonOf, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

let h: Harness;
const T0 = Date.UTC(2026, 10, 1);
const seeded: string[] = [];
beforeAll(async () => {
  h = createHarness();
  // 45 sessions a minute apart: agents alternate, every 5th failed, one mentions a zebra.
  for (let i = 0; i < 45; i++) {
    const { sessionId } = await seedSession(h.database, {
      agent: i % 2 === 0 ? 'shell' : 'cat',
      at: T0 + i * 60_000,
      turns: [
        {
          prompt: `question ${i}`,
          reply: i === 7 ? 'a zebra crossed' : `answer ${i}`,
          firstByteMs: 10 + i,
          totalMs: 100 + i,
        },
        {
          prompt: `follow-up ${i}`,
          reply: 'ok',
          status: i % 5 === 0 ? 'failed' : 'succeeded',
          firstByteMs: 10 + i,
          totalMs: 100 + i,
        },
      ],
    });
    seeded.push(sessionId);
  }
});
afterAll(() => h.close());

const get = (path: string) => jsonOf(h.app.request(path));

describe('GET /v1/sessions', () => {
  it('pages newest first without gaps or repeats, even while sessions are added', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = await get(
        `/v1/sessions?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next_cursor;
      // a concurrent writer adds a session between every two pages
      await seedSession(h.database, { at: Date.now(), turns: [{ prompt: 'new', reply: 'new' }] });
      pages++;
    } while (cursor);
    const original = seen.filter((id) => seeded.includes(id));
    expect(original).toEqual([...seeded].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThanOrEqual(7);
  });

  it('summarises each session', async () => {
    const page = await get(`/v1/sessions?limit=200&from=${T0}&to=${T0 + 1}`);
    expect(page.items).toEqual([
      {
        id: seeded[0],
        owner: null,
        agent: 'shell',
        created_at: new Date(T0).toISOString(),
        updated_at: new Date(T0 + 3).toISOString(),
        turns: 2,
        last_status: 'failed',
        totals: { total_ms: 200, total_tokens: 0 },
      },
    ]);
  });

  it('filters by agent, last status, time range and text', async () => {
    const ids = async (q: string) => (await get(`/v1/sessions?limit=200&${q}`)).items.map((s: { id: string }) => s.id);
    expect(await ids(`agent=cat&to=${T0 + 45 * 60_000}`)).toEqual(seeded.filter((_, i) => i % 2 === 1).reverse());
    expect(await ids(`status=failed&to=${T0 + 45 * 60_000}`)).toEqual(seeded.filter((_, i) => i % 5 === 0).reverse());
    expect(
      await ids(`from=${new Date(T0 + 10 * 60_000).toISOString()}&to=${new Date(T0 + 13 * 60_000).toISOString()}`),
    ).toEqual(seeded.slice(10, 13).reverse());
    expect(await ids('q=zebra')).toEqual([seeded[7]]);
    expect(await ids('q=%22unbalanced')).toEqual([]);
  });

  it('pages through search results too, newest first, none lost or repeated', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = await get(
        `/v1/sessions?q=question&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...seeded].reverse());
    const cats = (await get('/v1/sessions?q=question&agent=cat&limit=200')).items.map((s: { id: string }) => s.id);
    expect(cats).toEqual(seeded.filter((_, i) => i % 2 === 1).reverse());
  });

  it('searches the first 64 Ki characters of each message, and keeps the index right on delete', async () => {
    const { sessionId } = await seedSession(h.database, {
      turns: [{ prompt: 'headword here', reply: `${'x '.repeat(40_000)} tailword` }],
    });
    expect((await get('/v1/sessions?q=headword')).items.map((s: { id: string }) => s.id)).toEqual([sessionId]);
    expect((await get('/v1/sessions?q=tailword')).items).toEqual([]);
    expect((await h.app.request(`/v1/sessions/${sessionId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await get('/v1/sessions?q=headword')).items).toEqual([]);
    // SQLite's FTS5 index is a table of its own, checked whole; Postgres's is a column of the row deleted.
    if (h.database.dialect === 'sqlite')
      h.db.$client.prepare(`insert into messages_fts(messages_fts) values ('integrity-check')`).run();
  });

  it('rejects bad queries with 400 INVALID_QUERY', async () => {
    for (const q of [
      'limit=0',
      'limit=201',
      'limit=abc',
      'cursor=garbage',
      'status=bogus',
      'from=yesterday',
      'from=99999999999999999999',
      'to=8640000000000001',
      `q=${'x'.repeat(300)}`,
    ]) {
      const res = await h.app.request(`/v1/sessions?${q}`);
      expect(res.status, q).toBe(400);
      expect((await jsonOf(res)).error.code).toBe('INVALID_QUERY');
    }
  });
});

describe('one session, its runs, one run, deletion', () => {
  it('returns the transcript in order and the runs with their metrics', async () => {
    const s = await get(`/v1/sessions/${seeded[3]}`);
    expect(s.messages.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'question 3'],
      ['assistant', 'answer 3'],
      ['user', 'follow-up 3'],
      ['assistant', 'ok'],
    ]);
    const runs = (await get(`/v1/sessions/${seeded[3]}/runs`)).items;
    expect(runs).toHaveLength(2);
    expect(runs[0].metrics).toMatchObject({ first_byte_ms: 13, total_ms: 103, create_ms: 10 });
    expect(await get(`/v1/runs/${runs[1].id}`)).toEqual(runs[1]);
    expect((await h.app.request('/v1/runs/run_nope')).status).toBe(404);
  });

  it('deletes a session with its messages and runs, and its text leaves the search', async () => {
    const id = seeded[7]!;
    expect((await h.app.request(`/v1/sessions/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await h.app.request(`/v1/sessions/${id}`)).status).toBe(404);
    const left = await h.rows(
      'select (select count(*) from messages where session_id = ?) + (select count(*) from runs where session_id = ?) as n',
      id,
      id,
    );
    expect(left).toEqual([{ n: 0 }]);
    expect((await get('/v1/sessions?q=zebra')).items).toEqual([]);
    expect((await h.app.request(`/v1/sessions/${id}`, { method: 'DELETE' })).status).toBe(404);
  });
});

describe('GET /v1/stats', () => {
  it('counts by status and agent and gives nearest-rank percentiles over the window', async () => {
    const from = T0 + 20 * 60_000;
    const to = T0 + 40 * 60_000; // sessions 20..39 (untouched by the deletion above): 40 runs
    const s = await get(`/v1/stats?from=${from}&to=${to}`);
    expect(s.by_status).toEqual([
      { status: 'failed', runs: 4 },
      { status: 'succeeded', runs: 36 },
    ]);
    expect(s.by_agent).toEqual([
      { agent: 'cat', runs: 20 },
      { agent: 'shell', runs: 20 },
    ]);
    const sorted = Array.from({ length: 20 }, (_, i) => [30 + i, 30 + i])
      .flat()
      .sort((a, b) => a - b);
    const rank = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1];
    expect(s.first_byte_ms).toEqual({ n: 40, p50: rank(50), p95: rank(95) });
    expect(s.total_ms).toEqual({ n: 40, p50: rank(50)! + 90, p95: rank(95)! + 90 });
    expect((await h.app.request(`/v1/stats?from=${to}&to=${from}`)).status).toBe(400);
  });
});

describe('the API description', () => {
  it('serves OpenAPI 3 with every endpoint and every error code, and a docs page', async () => {
    const doc = await get('/openapi.json');
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/readyz',
        '/v1/run',
        '/v1/runs/{id}',
        '/v1/runs/{id}/events',
        '/v1/sessions',
        '/v1/sessions/{id}',
        '/v1/sessions/{id}/messages',
        '/v1/sessions/{id}/runs',
        '/v1/sessions/{id}/workspace',
        '/v1/sessions/{id}/workspace/files',
        '/v1/sessions/{id}/workspace/file',
        '/v1/stats',
        '/v1/chat/completions',
        '/v1/models',
        '/v1/models/{id}',
        '/v1/ws',
      ].sort(),
    );
    const text = JSON.stringify(doc);
    for (const code of ERROR_CODES) expect(text, code).toContain(code);
    expect(doc.components.schemas.RunRequest.properties).toHaveProperty('timeout_ms');
    expect(doc.components.schemas.RunRequest.properties).toHaveProperty('files');
    expect(Object.keys(doc.paths['/v1/sessions/{id}/workspace']).sort()).toEqual(['get', 'post', 'put']);
    // Every operation named and tagged; the SSE events described.
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, { operationId?: string; tags?: string[] }>>,
    )) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
        expect(op.tags, `${method} ${path}`).toHaveLength(1);
        ids.add(op.operationId!);
      }
    }
    expect(ids.size).toBe(
      Object.values(doc.paths as object).reduce((n: number, ops) => n + Object.keys(ops as object).length, 0),
    );
    expect(JSON.stringify(doc.components.schemas.RunEvent)).toContain('"tool_result"');
    // A plain-text run that ends before printing answers with its own status and this body.
    expect(Object.keys(doc.paths['/v1/run'].post.responses)).toEqual(
      expect.arrayContaining(['200', '502', '503', '504']),
    );
    expect(doc.components.schemas.RunEndError.properties).toHaveProperty('stderr');
    expect(doc.paths['/v1/ws'].get.responses['503'].description).toContain('AGENT_UNAVAILABLE');
  });

  it('serves an API reference at /docs from its own assets, no CDN', async () => {
    const docs = await h.app.request('/docs');
    expect(docs.status).toBe(200);
    const html = await docs.text();
    expect(html).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//); // nothing fetched from elsewhere
    expect(docs.headers.get('content-security-policy')).toContain("default-src 'self'");
    const init = await (await h.app.request('/docs/assets/init.js')).text();
    expect(init).toContain("url: '/openapi.json'");
    for (const [asset, type] of [
      ['swagger-ui-bundle.js', 'text/javascript'],
      ['swagger-ui.css', 'text/css'],
    ] as const) {
      const res = await h.app.request(`/docs/assets/${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }
    expect((await h.app.request('/docs/assets/..%2Fpackage.json')).status).toBe(404);
    expect((await h.app.request('/docs/assets/index.html')).status).toBe(404);
  });
});
