import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, type Harness } from './helpers/harness.js';

// The request shapes besides JSON and a raw body: a form's prompt field (curl -F), a
// form-urlencoded body kept raw (curl -d), and CORS for the configured origins only.

let h: Harness;
beforeAll(() => {
  h = createHarness({ corsOrigins: ['https://app.example'] });
});
afterAll(async () => {
  await h.close();
  expect(await h.leftovers()).toEqual([]);
});

const form = (fields: Record<string, string | Blob | (string | Blob)[]>) => {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) f.append(k, one);
  return f;
};
const postForm = (fields: Parameters<typeof form>[0], path = '/v1/run') =>
  h.app.request(
    new Request(`http://localhost${path}`, {
      method: 'POST',
      body: form(fields),
      headers: { accept: 'application/json' },
    }),
  );

describe('a multipart/form-data body (curl -F prompt=...)', () => {
  it('runs its prompt field, given as a value or as a file', async () => {
    const byValue = await jsonOf(postForm({ prompt: 'echo "from a form: $((6*7))"' }));
    expect(byValue).toMatchObject({ status: 'succeeded', output: 'from a form: 42\n' });
    const byFile = await jsonOf(
      postForm(
        { prompt: new File(['echo from a file\n'], 'script.sh') },
        `/v1/sessions/${byValue.session_id}/messages`,
      ),
    );
    expect(byFile).toMatchObject({ status: 'succeeded', output: 'from a file\n', session_id: byValue.session_id });
  });

  it('takes agent and timeout_ms as fields', async () => {
    const r = await jsonOf(postForm({ prompt: 'said back', agent: 'cat', timeout_ms: '5000' }));
    expect(r).toMatchObject({ status: 'succeeded', agent: 'cat', output: 'said back' });
  });

  it('refuses a form without a prompt, with unknown or repeated fields, or that does not parse, with 400 and stores nothing', async () => {
    const runsBefore = await h.rows('select count(*) as n from runs');
    const cases: [Response | Promise<Response>, string, RegExp][] = [
      [postForm({ agent: 'cat' }), 'INVALID_BODY', /no prompt field/],
      [postForm({ prompt: 'echo', extra: 'x' }), 'INVALID_BODY', /unknown form field\(s\): extra/],
      [postForm({ prompt: ['echo a', 'echo b'] }), 'INVALID_BODY', /more than once/],
      [postForm({ prompt: 'echo', timeout_ms: 'soon' }), 'INVALID_BODY', /timeout_ms must be a positive integer/],
      [postForm({ prompt: '   ' }), 'EMPTY_PROMPT', /empty/],
      [
        postForm({ prompt: new File([new Uint8Array([0xff, 0xfe])], 'bin') }),
        'INVALID_UTF8',
        /prompt is not valid UTF-8/,
      ],
      [
        h.app.request(
          new Request('http://localhost/v1/run', {
            method: 'POST',
            body: 'garbage',
            headers: { 'content-type': 'multipart/form-data; boundary=x' },
          }),
        ),
        'INVALID_BODY',
        /does not parse/,
      ],
    ];
    for (const [res, code, message] of cases) {
      const r = await res;
      expect(r.status).toBe(400);
      const body = await jsonOf(r);
      expect(body.error.code).toBe(code);
      expect(body.error.message).toMatch(message);
    }
    expect(await h.rows('select count(*) as n from runs')).toEqual(runsBefore);
  });
});

describe('a form-urlencoded body (curl -d)', () => {
  it('is the script as written, not decoded as a form', async () => {
    const res = await h.app.request(
      new Request('http://localhost/v1/run', {
        method: 'POST',
        body: 'prompt=1; echo $prompt a+b%20c',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      }),
    );
    expect(await res.json()).toMatchObject({ status: 'succeeded', output: '1 a+b%20c\n' });
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    h.app.request(
      new Request('http://localhost/v1/run', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      }),
    );

  it('answers a configured origin: preflight, then the run with its ids readable; its pages still need a key', async () => {
    const pre = await preflight('https://app.example');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    const request = (headers: Record<string, string>) =>
      new Request('http://localhost/v1/run', {
        method: 'POST',
        body: JSON.stringify({ prompt: 'echo cors' }),
        headers: {
          origin: 'https://app.example',
          'content-type': 'application/json',
          accept: 'application/json',
          ...headers,
        },
      });
    // Keyless serving is for local tools: a page, even of a configured origin, would act as an admin.
    const keyless = await h.app.request(request({}));
    expect(keyless.status).toBe(403);
    expect((await jsonOf(keyless)).error.code).toBe('CROSS_SITE');
    const keyed = createHarness({ corsOrigins: ['https://app.example'] });
    try {
      const key = (await keyed.service.keys.create('web', 'user')).key;
      const res = await keyed.app.request(request({ authorization: `Bearer ${key}` }));
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(res.headers.get('access-control-expose-headers')).toContain('X-Session-Id');
      expect(res.headers.get('access-control-expose-headers')).toContain('Ephemera-Status');
      expect(await jsonOf(res)).toMatchObject({ output: 'cors\n' });
    } finally {
      await keyed.close();
    }
  });

  it('gives any other origin no CORS header, and keyless mode still refuses its requests', async () => {
    const pre = await preflight('https://evil.example');
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await h.app.request(
      new Request('http://localhost/v1/run', {
        method: 'POST',
        body: 'echo hi',
        headers: { origin: 'https://evil.example' },
      }),
    );
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await jsonOf(res)).error.code).toBe('CROSS_SITE');
  });

  it('is off unless origins are configured', async () => {
    const plain = createHarness();
    try {
      const pre = await plain.app.request(
        new Request('http://localhost/v1/run', {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
        }),
      );
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.close();
    }
  });
});
