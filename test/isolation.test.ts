import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, SHELL_IMAGE, TEST_PROFILES, type Harness } from './helpers/harness.js';

let h: Harness;
beforeAll(() => {
  h = createHarness({
    maxOutputBytes: 1024 * 1024,
    profiles: {
      ...TEST_PROFILES,
      profiles: {
        ...TEST_PROFILES.profiles,
        tiny: {
          image: SHELL_IMAGE,
          command: ['sh', '-s'],
          workdir: '/workspace',
          limits: { memory_mb: 32, pids: 32, tmpfs_mb: 8 },
          timeout_ms: 20_000,
        },
      },
    },
  });
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

const run = async (prompt: string, query = '') =>
  jsonOf(h.app.request(post(`/v1/run${query}`, prompt, { accept: 'application/json' })));

describe('inside a container', () => {
  it('is not root, has no capabilities, cannot gain privileges, cannot write /', async () => {
    const r = await run(
      [
        'id -u',
        "grep CapEff /proc/self/status | tr -d '\\t'",
        "grep NoNewPrivs /proc/self/status | tr -d '\\t'",
        'touch /etc/x 2>/dev/null && echo ROOT-WRITABLE || echo root-read-only',
        'touch /bin/x 2>/dev/null && echo BIN-WRITABLE || echo bin-read-only',
        'echo ok > /tmp/t && cat /tmp/t',
        'echo ws > /workspace/w && cat /workspace/w',
        'ulimit -n',
      ].join('\n'),
    );
    expect(r.output).toBe('1000\nCapEff:0000000000000000\nNoNewPrivs:1\nroot-read-only\nbin-read-only\nok\nws\n1024\n');
  });

  it('cannot reach the network, not even this host', async () => {
    const server = createServer((_req, res) => res.end('reached')).listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    try {
      // (static busybox's wget may crash rather than fail without a network: either way, no answer)
      const r = await run(
        `ls /sys/class/net; (wget -q -T 2 -O - http://172.17.0.1:${port}/) 2>/dev/null || echo unreachable`,
      );
      expect(r.output).toBe('lo\nunreachable\n');
    } finally {
      server.close();
    }
  });

  it('sees neither the engine socket nor host paths', async () => {
    const r = await run(
      'ls /var/run/docker.sock /run/docker.sock 2>&1 | grep -c "No such file"; cat /proc/mounts | grep -c -E " /(host|var/lib/docker)" || true',
    );
    expect(r.output).toBe('2\n0\n');
  });
});

describe('limits', () => {
  it('ends a memory hog as a contained run with status oom', async () => {
    const r = await run('x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', '?agent=tiny');
    expect(r).toMatchObject({ status: 'oom', error: { code: 'OOM' } });
    expect(r.output).not.toContain('survived');
    expect((await h.app.request('/healthz')).status).toBe(200);
  });

  it('contains a fork bomb by its pids limit until the deadline, and the service stays responsive', async () => {
    // The sleep starts before the bomb: forked after it, it raced the bomb for the last pids, and
    // when it lost, sh ended at once ("can't fork") instead of holding the run to its deadline.
    const pending = run('sleep 30 & bomb() { bomb | bomb & }; bomb; wait', '?agent=tiny&timeout_ms=3000');
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = performance.now();
    expect((await h.app.request('/healthz')).status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1000);
    const r = await pending;
    expect(r.status).toBe('timeout');
  });

  it('kills a run that floods stdout at the output cap and keeps the output up to it', async () => {
    const res = await h.app.request(post('/v1/run', 'yes flood', { accept: 'text/plain' }));
    const body = Buffer.from(await res.arrayBuffer());
    const runId = res.headers.get('x-run-id')!;
    // The output up to the cap (it stops mid-line), then the line that tells the client it was cut.
    const notice = `\nephemera: the run ended output_limit: the run printed more than ${1024 * 1024} bytes; output kept up to that [${runId}]\n`;
    expect(body.length).toBe(1024 * 1024 + notice.length);
    expect(body.subarray(0, 12).toString()).toBe('flood\nflood\n');
    expect(body.subarray(1024 * 1024).toString()).toBe(notice);
    const run = (await h.service.transcripts.getRun(runId))!;
    expect(run).toMatchObject({ status: 'output_limit', errorCode: 'OUTPUT_LIMIT', bytesOut: 1024 * 1024 });
    const reply = (await h.service.transcripts.messagesOf(run.sessionId)).at(-1)!;
    expect(reply.role).toBe('assistant');
    expect(reply.content.length).toBe(1024 * 1024);
  });

  it('counts stderr toward the cap too', async () => {
    const r = await run('yes err >&2');
    expect(r.status).toBe('output_limit');
    expect(r.stderr.length).toBe(1024 * 1024);
  });
});
