import { ON_PODMAN } from './helpers/engine-proxy.js';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { unlockedProfiles } from '../src/runner/docker/egress-lock.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGemini, type FakeGemini } from './fake-gemini/server.js';
import { GATEWAY_PORT_WAIT_MS, holdGatewayPort } from './helpers/gateway-port.js';
import {
  EGRESS_NETWORK,
  GATEWAY_PORT,
  gatewayTo,
  geminiProfiles,
  hostAddressFromContainers,
} from './helpers/gemini.js';
import { createHarness, jsonOf, listen, post, SHELL_IMAGE, waitFor, type Harness } from './helpers/harness.js';
import { parseProfiles } from '../src/settings.js';

// The real Gemini CLI, in its image, one container per request, against a fake Gemini API.
const API_KEY = `AIzaFAKE-${randomBytes(12).toString('hex')}`;
let fake: FakeGemini;
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
const logLines: string[] = [];
let releasePort: (() => void) | undefined;

beforeAll(async () => {
  releasePort = await holdGatewayPort();
  // On loopback only: containers cannot reach it but through the service's model gateway.
  fake = await startFakeGemini({ host: '127.0.0.1', apiKey: API_KEY });
  h = createHarness({ profiles: geminiProfiles(), geminiApiKey: API_KEY, logLines, modelGateway: gatewayTo(fake.url) });
  await h.service.gateway.listen(hostAddressFromContainers(), GATEWAY_PORT);
  server = await listen(h.app);
}, GATEWAY_PORT_WAIT_MS);
// Registered first, so it runs last (after hooks run as a stack), whatever the others do.
afterAll(() => releasePort?.());
afterEach(async () => {
  const left = await h.leftovers();
  // A run that outlived its test (a CLI that hung, seen rarely in CI): what it was doing, for the next look.
  for (const c of left) {
    const top = await h.docker
      .getContainer(c.Id)
      .top({ ps_args: '-eo pid,stat,etime,args' })
      .catch((err: Error) => err.message);
    console.error(`left running: ${c.Id.slice(0, 12)} ${JSON.stringify(top)}\n${logLines.slice(-20).join('\n')}`);
  }
  expect(left).toEqual([]);
  expect(h.service.modelTokens.live).toBe(0); // every ended run's token is revoked
});
afterAll(async () => {
  await server?.close();
  await h?.close();
  await fake?.close();
});

const json = { 'content-type': 'application/json', accept: 'application/json' };

/** Another harness takes the one gateway port the egress network lets through (the main one gives it back after). */
async function borrowGatewayPort(other: Harness) {
  await h.service.gateway.close();
  await other.service.gateway.listen(hostAddressFromContainers(), GATEWAY_PORT);
}
const modelCalls = () => fake.requests.filter((r) => r.action === 'streamGenerateContent');

function sseEvents(text: string) {
  return text
    .trim()
    .split('\n\n')
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)![1]!, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) }));
}

describe('the gemini agent', () => {
  it('streams only the model text in plain mode, as it arrives', async () => {
    const res = await fetch(`${server.url}/v1/run?agent=gemini`, { method: 'POST', body: 'Say hello' });
    expect(res.status).toBe(200);
    const start = performance.now();
    const chunks: Array<{ at: number; text: string }> = [];
    const decoder = new TextDecoder();
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>)
      chunks.push({ at: performance.now() - start, text: decoder.decode(c, { stream: true }) });
    const end = performance.now() - start;
    const text = chunks.map((c) => c.text).join('');
    expect(text).toBe('Hello from the fake model: turns=1');
    // The fake streams three chunks 150 ms apart; the first must not wait for the end.
    expect(end - chunks[0]!.at).toBeGreaterThan(200);
    expect(text).not.toMatch(/Warning|Ripgrep|STARTUP|\{"type"/);
    expect(modelCalls().at(-1)?.apiKey).toBe(API_KEY);
  });

  it('maps stream-json to typed SSE events, with token usage in done', async () => {
    const res = await h.app.request(
      post('/v1/run', JSON.stringify({ agent: 'gemini', prompt: 'hi' }), {
        'content-type': 'application/json',
        accept: 'text/event-stream',
      }),
    );
    const events = sseEvents(await res.text());
    expect(events[0]!.event).toBe('run');
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(deltas.map((e) => e.data.text).join('')).toBe('Hello from the fake model: turns=1');
    expect(events.some((e) => e.event === 'stdout' || e.event === 'stderr')).toBe(false);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data).toMatchObject({
      status: 'succeeded',
      exit_code: 0,
      error: null,
      usage: { input_tokens: 10, output_tokens: 6, total_tokens: 16, tool_calls: 0 },
    });
  });

  it('replays the conversation through a session file: the model sees 1, 3 and 5 turns', async () => {
    const seen: number[] = [];
    let sessionId: string | undefined;
    for (const prompt of ['first question', 'second question', 'third question']) {
      const path = sessionId ? `/v1/sessions/${sessionId}/messages` : '/v1/run?agent=gemini';
      const body = await jsonOf(h.app.request(post(path, prompt, { accept: 'application/json' })));
      expect(
        body.status,
        JSON.stringify({
          error: body.error,
          stderr: (await h.service.transcripts.getRun(body.run_id))?.stderr.slice(-2000),
        }),
      ).toBe('succeeded');
      sessionId = body.session_id;
      seen.push(modelCalls().at(-1)!.turns);
      expect(body.output).toBe(`Hello from the fake model: turns=${seen.at(-1)}`);
      expect(modelCalls().at(-1)!.lastUserText).toContain(prompt);
    }
    expect(seen).toEqual([1, 3, 5]);
    const messages = await h.service.transcripts.messagesOf(sessionId!);
    expect(messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'first question'],
      ['assistant', 'Hello from the fake model: turns=1'],
      ['user', 'second question'],
      ['assistant', 'Hello from the fake model: turns=3'],
      ['user', 'third question'],
      ['assistant', 'Hello from the fake model: turns=5'],
    ]);
    const runs = await h.rows(
      'select input_tokens, output_tokens, total_tokens from runs where session_id = ? order by created_at',
      sessionId,
    );
    expect(runs).toEqual([
      { input_tokens: 10, output_tokens: 6, total_tokens: 16 },
      { input_tokens: 30, output_tokens: 6, total_tokens: 36 },
      { input_tokens: 50, output_tokens: 6, total_tokens: 56 },
    ]);
  });

  it('reports tool calls in SSE and JSON', async () => {
    const sse = sseEvents(
      await (
        await h.app.request(post('/v1/run?agent=gemini', 'FAKE_TOOL look around', { accept: 'text/event-stream' }))
      ).text(),
    );
    const use = sse.find((e) => e.event === 'tool_use')!;
    expect(use.data).toMatchObject({ name: 'list_directory', parameters: { dir_path: '.' } });
    expect(sse.find((e) => e.event === 'tool_result')!.data).toMatchObject({ id: use.data.id, status: 'success' });
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=gemini', 'FAKE_TOOL look around', { accept: 'application/json' })),
    );
    expect(body.tool_calls).toEqual([expect.objectContaining({ name: 'list_directory', status: 'success' })]);
    expect(body.usage.tool_calls).toBe(1);
    expect(body.output).toBe('Hello from the fake model: turns=3');
  });

  // Under gVisor too (`runtime: runsc`): the CLI, its tool and the gateway through the locked network.
  // gVisor is Docker's here: Podman's API ignores a container's runtime, so the service refuses it there.
  for (const agent of ON_PODMAN ? ['gemini'] : ['gemini', 'gemini-gvisor']) {
    it(`replays turn 1's functionCall and functionResponse into turn 2's request, before its reply (${agent})`, async () => {
      const json = { accept: 'application/json' };
      const first = await jsonOf(h.app.request(post(`/v1/run?agent=${agent}`, 'FAKE_TOOL look around', json)));
      expect(first.tool_calls).toEqual([expect.objectContaining({ name: 'list_directory', status: 'success' })]);
      const second = await jsonOf(h.app.request(post(`/v1/sessions/${first.session_id}/messages`, 'and now?', json)));
      expect(second.status, JSON.stringify(second)).toBe('succeeded');
      const contents = modelCalls().at(-1)!.body.contents ?? [];
      const at = (pred: (p: { functionCall?: unknown; functionResponse?: unknown }) => boolean) =>
        contents.findIndex((c) => c.parts.some(pred));
      const callAt = at((p) => p.functionCall !== undefined);
      const answerAt = at((p) => p.functionResponse !== undefined);
      expect(callAt, JSON.stringify(contents)).toBeGreaterThan(0);
      expect(contents[callAt]!.role).toBe('model');
      expect(contents[callAt]!.parts.find((p) => p.functionCall)!.functionCall).toMatchObject({
        name: 'list_directory',
        args: { dir_path: '.' },
      });
      expect(answerAt).toBe(callAt + 1);
      expect(contents[answerAt]!.role).toBe('user');
      const response = contents[answerAt]!.parts.find((p) => p.functionResponse)!.functionResponse!;
      expect(response.name).toBe('list_directory');
      expect(JSON.stringify(response.response)).toContain(JSON.stringify(first.tool_calls[0].output).slice(1, 30));
      const texts = contents.map((c) => JSON.stringify(c.parts));
      const reply = texts.findIndex((t) => t.includes(first.output));
      expect(reply).toBeGreaterThan(answerAt);
      expect(texts.findIndex((t) => t.includes('and now?'))).toBeGreaterThan(reply);
    });
  }

  it('keeps the file its write tool wrote for the next turn, whose read tool finds it', async () => {
    const first = await jsonOf(
      h.app.request(post('/v1/run?agent=gemini-editor', 'FAKE_WRITE_FILE make a note', { accept: 'application/json' })),
    );
    expect(first, JSON.stringify(first.stderr)).toMatchObject({ status: 'succeeded' });
    expect(first.tool_calls).toEqual([expect.objectContaining({ name: 'write_file', status: 'success' })]);
    const second = await jsonOf(
      h.app.request(
        post(`/v1/sessions/${first.session_id}/messages`, 'FAKE_READ_FILE read it back', {
          accept: 'application/json',
        }),
      ),
    );
    expect(second.tool_calls).toEqual([expect.objectContaining({ name: 'read_file', status: 'success' })]);
    // What the CLI gave the model back from its read tool: the file the first turn wrote.
    const answered = fake.requests
      .filter((r) => JSON.stringify(r.body.contents ?? []).includes('functionResponse'))
      .at(-1)!;
    expect(JSON.stringify(answered.body.contents)).toContain('written by the model');
    expect((await h.service.workspaces.get(first.session_id))!.files).toBe(2); // notes/ and notes/hello.txt
  });

  it('counts model calls and tokens at the gateway, whatever the CLI says', async () => {
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=gemini', 'FAKE_TOOL look around', { accept: 'application/json' })),
    );
    const run = await jsonOf(h.app.request(`/v1/runs/${body.run_id}`));
    const forwarded = fake.requests.filter((r) => r.action !== 'countTokens' && r.apiKey === API_KEY);
    expect(run.metrics.model_calls).toBeGreaterThanOrEqual(2); // the tool call, then the answer
    expect(run.metrics).toMatchObject({
      model_errors: 0,
      input_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
    });
    expect(forwarded.length).toBeGreaterThanOrEqual(run.metrics.model_calls);
    const metrics = await (await h.app.request('/metrics')).text();
    expect(metrics).toMatch(/ephemera_model_calls_total\{agent="gemini"\} [1-9]/);
  });

  it('ends a run that goes over its budget of model calls: failed, BUDGET_EXCEEDED', async () => {
    const before = fake.requests.length;
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=gemini-budget', 'FAKE_TOOL look around', { accept: 'application/json' })),
    );
    expect(body).toMatchObject({
      status: 'failed',
      error: { code: 'BUDGET_EXCEEDED', message: expect.stringContaining('budget of 1 model call') },
    });
    expect(await h.service.transcripts.getRun(body.run_id)).toMatchObject({
      status: 'failed',
      errorCode: 'BUDGET_EXCEEDED',
      modelCalls: 1,
    });
    expect(fake.requests.slice(before).filter((r) => r.action !== 'countTokens')).toHaveLength(1);
  });

  it('turns a model error into a failed run with MODEL_ERROR, which a plain-text client sees as its status', async () => {
    const body = await jsonOf(
      h.app.request(post('/v1/run', JSON.stringify({ agent: 'gemini', prompt: 'FAKE_ERROR_400 please' }), json)),
    );
    expect(body).toMatchObject({ status: 'failed', error: { code: 'MODEL_ERROR' }, output: '' });
    expect(body.error.message).toContain('the fake model rejected the request on purpose');
    expect(await h.service.transcripts.getRun(body.run_id)).toMatchObject({
      status: 'failed',
      errorCode: 'MODEL_ERROR',
    });
    // The CLI's start-up noise (a node-pty load failure, colour and ripgrep warnings) is kept out: the failure comes
    // first.
    expect(body.stderr).toMatch(/^Error when talking to Gemini API/);
    expect(body.stderr).not.toMatch(/pty\.node|innerError|256-color|Ripgrep/);
    const text = await h.app.request(post('/v1/run?agent=gemini', 'FAKE_ERROR_400 please'));
    expect(text.status).toBe(502);
    expect(await text.json()).toMatchObject({
      error: { code: 'MODEL_ERROR' },
      status: 'failed',
      stderr: expect.stringMatching(/^Error when talking to Gemini API/),
    });
  });

  it('turns a CLI crash into a failed run with AGENT_CRASHED', async () => {
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=gemini-crash', 'hello', { accept: 'application/json' })),
    );
    expect(body).toMatchObject({ status: 'failed', error: { code: 'AGENT_CRASHED' } });
    expect(body.exit_code).not.toBe(0);
  });

  it('turns a rejected API key into AUTH_FAILED', async () => {
    const wrong = createHarness({
      profiles: geminiProfiles(),
      geminiApiKey: 'not-the-key',
      modelGateway: gatewayTo(fake.url),
    });
    try {
      await borrowGatewayPort(wrong);
      const body = await jsonOf(
        wrong.app.request(post('/v1/run?agent=gemini', 'hello', { accept: 'application/json' })),
      );
      expect(body).toMatchObject({ status: 'failed', error: { code: 'AUTH_FAILED' } });
    } finally {
      await wrong.close();
      await h.service.gateway.listen(hostAddressFromContainers(), GATEWAY_PORT);
    }
  });

  it('runs through a standby container whose gate loaded the CLI ahead: streamed, replayed, one container a run', async () => {
    const profiles = geminiProfiles();
    // The gate's trace says it ran the CLI's main in its own process (a plain run would not).
    // With a kept workspace: the gate does the workspace shim's work in its process too.
    profiles.profiles.gemini = {
      ...profiles.profiles.gemini!,
      standby: 1,
      workdir: '/workspace',
      env: { EPHEMERA_GATE_TRACE: '1' },
    };
    const warm = createHarness({ profiles, geminiApiKey: API_KEY, modelGateway: gatewayTo(fake.url) });
    const ready = () =>
      waitFor(() => (warm.service.standby!.stats().get('gemini')!.ready === 1 ? true : undefined), 30_000);
    try {
      await borrowGatewayPort(warm);
      await warm.service.startBackground();
      await ready();
      const first = await jsonOf(
        warm.app.request(post('/v1/run?agent=gemini', 'first question', { accept: 'application/json' })),
      );
      expect(first, JSON.stringify(first.stderr)).toMatchObject({
        status: 'succeeded',
        output: 'Hello from the fake model: turns=1',
      });
      await ready();
      // A workspace well over a pipe's buffer goes back through the gate's own writes whole.
      const big = await warm.app.request(
        new Request(`http://localhost/v1/sessions/${first.session_id}/workspace/file?path=big.bin`, {
          method: 'PUT',
          body: randomBytes(300_000),
        }),
      );
      expect(big.status).toBe(200);
      const stored = (await warm.service.workspaces.get(first.session_id))!.sha256;
      const second = await jsonOf(
        warm.app.request(
          post(`/v1/sessions/${first.session_id}/messages`, 'second question', { accept: 'application/json' }),
        ),
      );
      expect(second, JSON.stringify(second.stderr)).toMatchObject({
        status: 'succeeded',
        output: 'Hello from the fake model: turns=3',
      });
      expect(warm.service.standby!.stats().get('gemini')).toMatchObject({ hits: 2, misses: 0 });
      for (const r of [first, second]) expect(r.stderr).toMatch(/\[gate \d+\] main\n/);
      expect(await warm.service.transcripts.getRun(second.run_id)).toMatchObject({
        workspaceInSha256: stored,
        workspaceOutSha256: stored,
      });
      expect(modelCalls().at(-1)!.apiKey).toBe(API_KEY);
    } finally {
      await warm.close();
      await h.service.gateway.listen(hostAddressFromContainers(), GATEWAY_PORT);
    }
  }, 60_000);

  it('keeps the API key out of docker inspect, the logs, the database and the replies', async () => {
    const pending = h.app.request(
      post('/v1/run?agent=gemini', 'FAKE_SLOW take your time', { accept: 'application/json' }),
    );
    // Inspected while it runs: the run's container is the one with the gateway in its environment (a container
    // of an earlier test may still be on its way out). The run's own outcome is checked first, so that a run that
    // ended early says why.
    const inspected = waitFor(async () => {
      for (const c of await h.leftovers()) {
        const seen = await h.docker
          .getContainer(c.Id)
          .inspect()
          .then(JSON.stringify, () => '');
        if (seen.includes('GOOGLE_GEMINI_BASE_URL')) return seen;
      }
      return undefined;
    }, 15_000).catch((err: Error) => `inspect failed: ${err.message}`);
    const body = await jsonOf(pending);
    expect(body.status, JSON.stringify(body)).toBe('succeeded');
    const inspect = await inspected;
    expect(inspect).toContain('GOOGLE_GEMINI_BASE_URL'); // the inspect is real and has the env
    expect(inspect).not.toContain(API_KEY);
    expect(JSON.stringify(body)).not.toContain(API_KEY);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(API_KEY);
    expect(await h.storedText()).not.toContain(API_KEY);
  });
});

/**
 * The IPv6 link-local address a bridge has, or would have with IPv6 on (EUI-64 of its MAC): a
 * container on it that has IPv6 could reach the host there.
 */
function linkLocalOf(bridge: string): string {
  const mac = readFileSync(`/sys/class/net/${bridge}/address`, 'utf8')
    .trim()
    .split(':')
    .map((h) => Number.parseInt(h, 16));
  const b = [mac[0]! ^ 2, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!];
  const groups = [0, 2, 4, 6].map((i) => ((b[i]! << 8) | b[i + 1]!).toString(16));
  return `fe80::${groups.join(':')}`;
}

describe('the locked egress network', () => {
  /** A container that answers "hi" on port 9000, on the given network; removed by the caller. */
  async function listener(network: string) {
    const c = await h.docker.createContainer({
      Image: SHELL_IMAGE,
      Cmd: ['sh', '-c', 'while true; do echo hi | nc -l -p 9000; done'],
      Labels: { 'ephemera.test': 'egress-listener' },
      HostConfig: { NetworkMode: network },
    });
    try {
      await c.start();
      const info = await c.inspect();
      return { container: c, ip: info.NetworkSettings.Networks[network]!.IPAddress };
    } catch (err) {
      await c.remove({ force: true }); // not left behind when it cannot start
      throw err;
    }
  }

  // Under runc and under gVisor, which runs on the container's own namespace (ephemera-runsc-net).
  for (const agent of ON_PODMAN ? ['probe'] : ['probe', 'probe-gvisor'])
    it(`lets a container reach the model gateway, and not the host, the service, another container or another network (${agent})`, async () => {
      const gw = hostAddressFromContainers();
      // On :: (IPv4 and IPv6): a container must not reach it by the bridge's IPv6 link-local address either.
      const hostListener = createServer((_req, res) => res.end('reached')).listen(0, '::');
      await new Promise((r) => hostListener.once('listening', r));
      const wideApi = serve({ fetch: h.app.fetch, hostname: '0.0.0.0', port: 0 }); // the service's API bound beyond loopback
      await new Promise((r) => wideApi.once('listening', r));
      const [neighbour, elsewhere] = await Promise.all([
        listener(EGRESS_NETWORK),
        listener(ON_PODMAN ? 'podman' : 'bridge'),
      ]);
      const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
      try {
        const tryHttp = (host: string, p: number, name: string) =>
          `printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${p} 2>/dev/null | grep -q . && echo "${name}: reached" || echo "${name}: blocked"`;
        const tryRaw = (host: string, name: string) =>
          `nc -w 3 ${host} 9000 </dev/null 2>/dev/null | grep -q hi && echo "${name}: reached" || echo "${name}: blocked"`;
        const script = [
          'uname -r',
          tryHttp(gw, GATEWAY_PORT, 'gateway'),
          tryHttp(gw, port(hostListener), 'host listener'),
          tryHttp(`${linkLocalOf(ON_PODMAN ? 'ephemera1' : 'ephemera0')}%eth0`, port(hostListener), 'host over IPv6'),
          tryHttp(gw, port(wideApi), 'service API'),
          tryRaw(neighbour.ip, 'container on the network'),
          tryRaw(elsewhere.ip, 'container on another network'),
        ].join('\n');
        const r = await jsonOf(h.app.request(post(`/v1/run?agent=${agent}`, script, { accept: 'application/json' })));
        expect(r.output).toBe(
          [
            agent === 'probe-gvisor' ? '4.4.0' : release(), // the kernel it ran on
            'gateway: reached',
            'host listener: blocked',
            'host over IPv6: blocked',
            'service API: blocked',
            'container on the network: blocked',
            'container on another network: blocked',
            '',
          ].join('\n'),
        );
        // The listeners are real: reachable from where they should be.
        expect(await (await fetch(`http://127.0.0.1:${port(hostListener)}/`)).text()).toBe('reached');
      } finally {
        hostListener.close();
        (wideApi as unknown as { closeAllConnections(): void }).closeAllConnections();
        wideApi.close();
        await Promise.all([neighbour, elsewhere].map((l) => l.container.remove({ force: true })));
      }
    });

  it('is internal, with its containers isolated, and the service checks that before running agents on it', async () => {
    const info = await h.docker.getNetwork(EGRESS_NETWORK).inspect();
    expect(info.Internal).toBe(true);
    // Podman has no enable_icc: the host drops what it would forward from the bridge (unlockedProfiles reads that).
    if (!ON_PODMAN) expect(info.Options?.['com.docker.network.bridge.enable_icc']).toBe('false');
    expect(await unlockedProfiles(h.docker, parseProfiles(geminiProfiles()), [GATEWAY_PORT])).toEqual(new Map());
  });
});
