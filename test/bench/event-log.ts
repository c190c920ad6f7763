// The event log's bench parts (`npm run bench -- --only replay-build` / `--only resume`):
// - replay-build: building a 50-turn session's replay with its 200 tool calls (the store's replay
//   walk, the steps read from the runs' logs, Claude's session file), against the same session's
//   replay without the steps, in-process on a SQLite file and on Postgres;
// - resume: GET /v1/runs/{id}/events with Last-Event-ID on a live run, first event, against
//   GET /v1/runs/{id} on the same service (the same auth, routing and one row read).
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY_RUN_METRICS } from '../../src/run-metrics.js';
import type { Store } from '../../src/db/contract.js';
import { newId } from '../../src/db/ids.js';
import { openSqliteStore } from '../../src/db/sqlite/store.js';
import { openPostgresStore } from '../../src/db/postgres/store.js';
import { claudeSessionFile } from '../../src/runner/agents/claude/session-file.js';
import { replayWithSteps } from '../../src/runner/run/replay-steps.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { pct, r2 } from './figures.js';

const TURNS = 50;
const TOOLS_PER_TURN = 4;
const REPLAY_MAX = 8 * 1024 * 1024;

/** A 50-turn session whose every run called 4 tools (1 KiB results), as the service stores it. */
async function seed(s: Store): Promise<{ sessionId: string; nextMessageId: number }> {
  const sessionId = newId('ses');
  let userMessageId = 0;
  for (let t = 0; t < TURNS; t++) {
    const runId = newId('run');
    const begun = await s.transcripts.beginTurn({
      sessionId,
      runId,
      agent: 'claude',
      image: 'img',
      instanceId: 'bench',
      keyId: null,
      timeoutMs: 60_000,
      prompt: `question ${t}: look at the files and tell me`,
      now: Date.now(),
      ...(t === 0 && { newSessionAgent: 'claude' }),
    });
    if (typeof begun !== 'object') throw new Error(`seed: turn ${t} ${begun}`);
    userMessageId = begun.userMessageId;
    const events = [];
    let seq = 1;
    for (let i = 0; i < TOOLS_PER_TURN; i++) {
      const id = `toolu_${t}_${i}`;
      events.push({
        seq: seq++,
        type: 'tool_use' as const,
        data: JSON.stringify({ id, name: 'Bash', parameters: { command: `ls -la dir${i}` } }),
        createdAt: 0,
      });
      events.push({
        seq: seq++,
        type: 'tool_result' as const,
        data: JSON.stringify({ id, status: 'success', output: 'x'.repeat(1024), error: null }),
        createdAt: 0,
      });
    }
    events.push({ seq: seq++, type: 'done' as const, data: JSON.stringify({ exit_code: 0 }), createdAt: 0 });
    await s.events.append(runId, events);
    await s.transcripts.finishRun(runId, sessionId, {
      status: 'succeeded',
      exitCode: 0,
      errorCode: null,
      errorMessage: null,
      stderr: '',
      output: { text: `answer ${t}: ${'y'.repeat(400)}`, omittedBytes: 0 },
      metrics: { ...EMPTY_RUN_METRICS, totalMs: 1 },
      replay: null,
      now: Date.now(),
    });
  }
  return { sessionId, nextMessageId: userMessageId + 10 };
}

/** Builds the replay (with or without the steps) `n` times; the times in ms. */
async function builds(s: Store, sessionId: string, before: number, withSteps: boolean, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const replay = await s.transcripts.replayBefore(sessionId, before, REPLAY_MAX);
    const built = withSteps ? await replayWithSteps(replay, s.events, REPLAY_MAX) : { replay, steps: new Map() };
    const file = claudeSessionFile(built.replay.messages, '/workspace', built.replay.omitted, built.steps);
    if (withSteps && !file.content.includes('tool_result')) throw new Error('replay-build: no tool result replayed');
    times.push(performance.now() - t0);
  }
  return times;
}

type BuildFigures = {
  text_only_p50_ms: number;
  with_tools_p50_ms: number;
  with_tools_p95_ms: number;
  tool_calls: number;
};

async function buildOn(s: Store, n: number): Promise<BuildFigures> {
  const { sessionId, nextMessageId } = await seed(s);
  await builds(s, sessionId, nextMessageId, true, 10); // warm-up
  const plain = await builds(s, sessionId, nextMessageId, false, n);
  const tools = await builds(s, sessionId, nextMessageId, true, n);
  return {
    text_only_p50_ms: r2(pct(plain, 50)),
    with_tools_p50_ms: r2(pct(tools, 50)),
    with_tools_p95_ms: r2(pct(tools, 95)),
    tool_calls: TURNS * TOOLS_PER_TURN,
  };
}

export async function replayBuildBench(n: number): Promise<{ sqlite: BuildFigures; postgres: BuildFigures }> {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-replay-'));
  const lite = openSqliteStore(join(dir, 'replay.db'));
  const pgDb = await createTestDatabase();
  const pg = await openPostgresStore(pgDb.url);
  try {
    return { sqlite: await buildOn(lite, n), postgres: await buildOn(pg, n) };
  } finally {
    await lite.close();
    await pg.close();
    await pgDb.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The time to a response's first body byte, over a keep-alive agent. */
async function firstByte(url: string, headers: Record<string, string>, agent: http.Agent): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      res.once('data', () => {
        const ms = performance.now() - t0;
        res.destroy();
        resolve(ms);
      });
      res.once('error', () => {});
    });
    req.on('error', reject);
  });
}

type ResumeFigures = { resume_first_event_p50_ms: number; resume_first_event_p95_ms: number; get_run_p50_ms: number };

/** Resumes a live run's events `n` times after its first event, against reading the run's row. */
export async function resumeBench(base: string, n: number): Promise<ResumeFigures> {
  const started = await fetch(`${base}/v1/run`, {
    method: 'POST',
    body: 'echo ready; sleep 60',
    headers: { prefer: 'respond-async' },
  });
  const { run_id: runId } = (await started.json()) as { run_id: string };
  for (let i = 0; i < 100; i++) {
    const page = (await (await fetch(`${base}/v1/runs/${runId}/events`)).json()) as { items: unknown[] };
    if (page.items.length >= 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const resume: number[] = [];
  const row: number[] = [];
  try {
    for (let i = 0; i < n + 5; i++) {
      const a = await firstByte(
        `${base}/v1/runs/${runId}/events`,
        { accept: 'text/event-stream', 'last-event-id': `${runId}:1` },
        agent,
      );
      const b = await firstByte(`${base}/v1/runs/${runId}`, {}, agent);
      if (i < 5) continue; // warm-up
      resume.push(a);
      row.push(b);
    }
  } finally {
    agent.destroy();
  }
  return {
    resume_first_event_p50_ms: r2(pct(resume, 50)),
    resume_first_event_p95_ms: r2(pct(resume, 95)),
    get_run_p50_ms: r2(pct(row, 50)),
  };
}
