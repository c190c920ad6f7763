import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { createHarness, jsonOf, listen, post, waitFor, type Harness } from './helpers/harness.js';
import { processDatabases } from './helpers/process-database.js';
import { spawnService } from './helpers/service-process.js';

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
const logLines: string[] = [];
beforeAll(async () => {
  h = createHarness({ logLines });
  server = await listen(h.app);
});
const databases = processDatabases();
afterAll(async () => {
  await server.close();
  await h.close();
  await databases.close();
});

const metricsText = async () => (await h.app.request('/metrics')).text();
const sample = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('GET /metrics', () => {
  it('counts runs by agent and status, with durations recorded when the stream ends', async () => {
    const runs = 'ephemera_runs_total{agent="shell",status="succeeded"}';
    const before = sample(await metricsText(), runs);
    const res = await fetch(`${server.url}/v1/run`, { method: 'POST', body: 'echo a; sleep 1; echo b' });
    expect(res.status).toBe(200); // headers are out, the run is not over
    const during = await metricsText();
    expect(sample(during, runs)).toBe(before);
    expect(sample(during, 'ephemera_runs_in_flight')).toBe(1);
    expect(await res.text()).toBe('a\nb\n');
    await waitFor(async () => sample(await metricsText(), runs) === before + 1);
    const after = await metricsText();
    expect(sample(after, 'ephemera_run_duration_seconds_count{agent="shell"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'ephemera_run_duration_seconds_sum{agent="shell"}')).toBeGreaterThan(1);
    expect(sample(after, 'ephemera_stream_bytes_total{stream="stdout"}')).toBeGreaterThanOrEqual(4);
    for (const name of [
      'ephemera_container_create_seconds_count',
      'ephemera_container_start_seconds_count',
      'ephemera_queue_wait_seconds_count',
      'ephemera_run_first_byte_seconds_count',
      'ephemera_queue_depth',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(after, name).toContain(name);
    }
    expect(sample(after, 'ephemera_runs_in_flight')).toBe(0);
  });

  it('has no unbounded labels: no session, run or key ids', async () => {
    await h.app.request(post('/v1/run', 'exit 3', { accept: 'application/json' }));
    const text = await metricsText();
    expect(text).toContain('ephemera_runs_total{agent="shell",status="failed"}');
    expect(text).not.toMatch(/ses_|run_0|key_/);
  });
});

describe('structured logs', () => {
  it('puts a request id on every line of a request and in X-Request-Id', async () => {
    const res = await h.app.request(
      post('/v1/run', 'echo logged', { accept: 'application/json', 'x-request-id': 'req-abc-123' }),
    );
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    const { run_id } = await jsonOf(res);
    const mine = logLines.map((l) => JSON.parse(l)).filter((l) => l.requestId === 'req-abc-123');
    expect(mine.map((l) => l.msg).sort()).toEqual(['request', 'run ended']);
    expect(mine.find((l) => l.msg === 'run ended')).toMatchObject({
      runId: run_id,
      status: 'succeeded',
      agent: 'shell',
    });
    expect(mine.find((l) => l.msg === 'request')).toMatchObject({ method: 'POST', path: '/v1/run', status: 200 });
    const generated = await h.app.request('/healthz');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never shows an API key or an Authorization header', async () => {
    const { key } = await h.service.keys.create('logged', 'admin');
    try {
      const res = await h.app.request(
        new Request('http://localhost/v1/sessions', { headers: { authorization: `Bearer ${key}` } }),
      );
      expect(res.status).toBe(200);
      const bad = await h.app.request(
        new Request('http://localhost/v1/sessions', { headers: { authorization: `Bearer ${key}x` } }),
      );
      expect(bad.status).toBe(401);
      expect(logLines.join('\n')).not.toContain(key);
    } finally {
      await h.service.keys.revoke('logged');
    }
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => void lines.push(l) } });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer sekrit' } },
        apiKey: 'sekrit2',
        config: { secrets: { geminiApiKey: 'sekrit3' } },
      },
      'x',
    );
    expect(lines.join('')).not.toMatch(/sekrit/);
    expect(lines.join('')).toContain('[redacted]');
  });
});

describe('the start-up report', () => {
  it('names the model keys the gateway holds, never their values, and the agents it refuses, with why', async () => {
    // A gateway that cannot listen starts fast and does not matter here.
    const svc = await spawnService({
      ...(await databases.env('at-start')),
      MODEL_GATEWAY_HOST: '0.0.0.0',
      GEMINI_API_KEY: 'sekrit-at-start',
    });
    try {
      const line = JSON.parse(svc.logs.find((l) => l.includes('ephemera listening'))!) as Record<string, unknown>;
      expect(line.modelKeysConfigured).toEqual(['GEMINI_API_KEY']);
      expect(svc.logs.join('\n')).not.toContain('sekrit-at-start');
      // The agents it refuses, and why: claude has no key (and, here, no gateway either); gemini has its key.
      const unavailable = line.unavailableAgents as Record<string, string>;
      expect(unavailable.claude).toMatch(
        /no ANTHROPIC_API_KEY configured .*set ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE/,
      );
      expect(unavailable.gemini).not.toMatch(/GEMINI_API_KEY/);
      expect(unavailable.shell).toBeUndefined();
      expect(
        svc.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>),
      ).toContainEqual(expect.objectContaining({ msg: 'agent unavailable', agent: 'claude' }));
    } finally {
      svc.proc.kill('SIGTERM');
      await svc.exited;
    }
  });
});
