import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentFor } from '../src/runner/agents/index.js';
import type { Agent } from '../src/runner/agents/agent.js';
import type { StoredEnding } from '../src/db/contract.js';
import { createHarness, jsonOf, post, type Harness } from './helpers/harness.js';

// A turn replays the newest earlier messages that fit REPLAY_MAX_BYTES, and says how many
// it left out; and once a turn has begun, every outcome ends its run.

/** Runs whose prompt says BOOM fail in the service itself: in preparation, or after their container. */
const faulty: typeof agentFor = (profile, model, keyConfigured) => {
  const real = agentFor(profile, model, keyConfigured);
  let prompt = '';
  return {
    ...real,
    prepare(turn) {
      prompt = turn.prompt;
      if (prompt.includes('BOOM-PREPARE')) throw new RangeError('Invalid string length');
      return real.prepare(turn);
    },
    parser() {
      const parser = real.parser();
      return {
        push: (chunk) => parser.push(chunk),
        end: () => parser.end(),
        get parsed() {
          if (prompt.includes('BOOM-AFTER')) throw new Error('parser state lost');
          return parser.parsed;
        },
      };
    },
  } satisfies Agent;
};

let h: Harness;
beforeAll(() => {
  h = createHarness({ replayMaxBytes: 4096, agents: faulty });
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

const turn = async (path: string, prompt: string) => {
  const res = await h.app.request(post(path, prompt, { accept: 'application/json' }));
  return { status: res.status, body: await jsonOf(res) };
};
const runRow = async (id: string) => (await h.rows('select status, error_code as code from runs where id = ?', id))[0];

describe('replay bound', () => {
  it('keeps the newest turns under REPLAY_MAX_BYTES, and tells the agent and the run how many it left out', async () => {
    // Each turn stores ~1.1 KB of prompt and ~1 KB of reply: 4 KiB holds about two messages.
    const chunk = (i: number) => `echo ${String(i).repeat(1000)} >/dev/null; head -c 1000 /dev/zero | tr '\\0' '${i}'`;
    const first = await turn('/v1/run', chunk(1));
    const sid = first.body.session_id as string;
    for (const i of [2, 3, 4]) expect((await turn(`/v1/sessions/${sid}/messages`, chunk(i))).status).toBe(200);
    const last = await turn(
      `/v1/sessions/${sid}/messages`,
      'cat /ephemera/history.jsonl; echo; wc -c < /ephemera/history.jsonl',
    );
    const lines = (last.body.output as string).split('\n').filter((l) => l !== '');
    const size = Number(lines.pop());
    const replayed = lines.map((l) => JSON.parse(l));
    expect(size).toBeLessThanOrEqual(4096);
    expect(replayed[0]).toMatchObject({ role: 'system', omitted_messages: expect.any(Number) });
    expect(replayed[0].content).toContain('left out');
    const kept = replayed.slice(1);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept[0].role).toBe('user'); // never a reply without its prompt
    expect(kept.at(-1)).toMatchObject({ role: 'assistant', content: '4'.repeat(1000) }); // the newest is kept
    expect(replayed[0].omitted_messages + kept.length).toBe(8); // four turns before this one

    const run = await jsonOf(h.app.request(`/v1/runs/${last.body.run_id}`));
    expect(run.replay).toEqual({
      messages: kept.length,
      omitted_messages: replayed[0].omitted_messages,
      bytes: expect.any(Number),
    });
    expect(run.replay.bytes).toBeLessThanOrEqual(4096);
    const firstRun = await jsonOf(h.app.request(`/v1/runs/${first.body.run_id}`));
    expect(firstRun.replay).toEqual({ messages: 0, omitted_messages: 0, bytes: 0 });
  });

  it('reads and records nothing for a profile that replays nothing', async () => {
    const first = await turn('/v1/run?agent=cat', 'one');
    const second = await turn(`/v1/sessions/${first.body.session_id}/messages`, 'two');
    expect((await jsonOf(h.app.request(`/v1/runs/${second.body.run_id}`))).replay).toBeNull();
  });
});

describe('a fault after the turn began', () => {
  it('in preparation: a JSON 500, the run ends failed, and the session takes its next turn', async () => {
    const first = await turn('/v1/run', 'echo one');
    const sid = first.body.session_id as string;
    const res = await h.app.request(
      post(`/v1/sessions/${sid}/messages`, 'echo BOOM-PREPARE', { accept: 'application/json' }),
    );
    expect(res.status).toBe(500);
    const body = await jsonOf(res);
    expect(body).toEqual({ error: { code: 'INTERNAL', message: expect.stringContaining('recorded as failed') } });
    expect(JSON.stringify(body)).not.toContain('Invalid string length'); // no internals
    const [failed] = await h.rows<{ id: string }>(
      `select id from runs where session_id = ? order by created_at desc limit 1`,
      sid,
    );
    expect(await runRow(failed!.id)).toEqual({ status: 'failed', code: 'INTERNAL' });

    const next = await turn(`/v1/sessions/${sid}/messages`, 'echo two');
    expect(next.status).toBe(200);
    expect(next.body.output).toBe('two\n');
  });

  it('a failed write of the end is tried again, and the reply is stored once', async () => {
    const store = h.service.transcripts;
    const real = store.finishRun.bind(store);
    let calls = 0;
    store.finishRun = (...args) => {
      if (++calls === 1) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      return real(...args);
    };
    try {
      const first = await turn('/v1/run', 'echo stored');
      expect(calls).toBe(2);
      expect(await runRow(first.body.run_id)).toEqual({ status: 'succeeded', code: null });
      const replies = (await h.service.transcripts.messagesOf(first.body.session_id)).filter(
        (m) => m.role === 'assistant',
      );
      expect(replies.map((m) => m.content)).toEqual(['stored\n']);
      // Ending an ended run again changes nothing.
      const again: StoredEnding = {
        status: 'failed',
        exitCode: 1,
        errorCode: null,
        errorMessage: null,
        stderr: '',
        output: { text: 'duplicate', omittedBytes: 0 },
        metrics: {
          queuedMs: null,
          createMs: null,
          startMs: null,
          firstByteMs: null,
          totalMs: 0,
          bytesOut: 0,
          bytesErr: 0,
          inputTokens: null,
          outputTokens: null,
          totalTokens: null,
          toolCalls: null,
          modelCalls: null,
          modelErrors: null,
        },
        replay: null,
        now: Date.now(),
      };
      expect(await real(first.body.run_id, first.body.session_id, again)).toBe(false);
      expect(await h.service.transcripts.messagesOf(first.body.session_id)).toHaveLength(2);
      expect(await runRow(first.body.run_id)).toEqual({ status: 'succeeded', code: null });
    } finally {
      store.finishRun = real;
    }
  });

  it('after the container: the run ends failed, nothing is left running, and the session can be deleted', async () => {
    const first = await turn('/v1/run', 'echo BOOM-AFTER');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'failed', error: { code: 'INTERNAL' } });
    expect(await runRow(first.body.run_id)).toEqual({ status: 'failed', code: 'INTERNAL' });
    const sid = first.body.session_id as string;
    expect((await turn(`/v1/sessions/${sid}/messages`, 'echo again')).body.output).toBe('again\n');
    expect((await h.app.request(`/v1/sessions/${sid}`, { method: 'DELETE' })).status).toBe(204);
  });
});
