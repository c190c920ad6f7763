import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RunEventStore } from '../../src/db/contract.js';
import type { RunEventRow } from '../../src/db/rows.js';
import { RunEventLog } from '../../src/runner/events/event-log.js';
import type { NumberedEvent } from '../../src/runner/events/typed-event.js';
import { replayWithSteps } from '../../src/runner/run/replay-steps.js';

/** A store that keeps what it is given, and notes what it is asked for. */
function memoryEvents() {
  const rows: RunEventRow[] = [];
  const asked: string[][] = [];
  const store: RunEventStore = {
    async append(runId, events) {
      rows.push(...events.map((e) => ({ ...e, runId })));
    },
    async after(runId, afterSeq, limit) {
      return rows.filter((r) => r.runId === runId && r.seq > afterSeq).slice(0, limit);
    },
    async ofRuns(runIds, types) {
      asked.push([...runIds]);
      return rows.filter((r) => runIds.includes(r.runId) && (types as string[]).includes(r.type));
    },
  };
  return { store, rows, asked };
}
const logger = pino({ level: 'silent' });

describe('a run’s event log', () => {
  it('keeps a long tool result and a long tool input as their head and tail; the events stay whole JSON', async () => {
    const { store, rows } = memoryEvents();
    const log = new RunEventLog('run_1', store, { maxBytes: 1 << 20, maxEventBytes: 1000 }, { logger });
    const big = 'x'.repeat(50_000);
    log.add([
      { seq: 1, event: 'tool_use', data: { id: 't', name: 'Write', parameters: { content: big } } },
      { seq: 2, event: 'tool_result', data: { id: 't', status: 'success', output: big, error: null } },
      { seq: 3, event: 'stdout', data: { data: big } },
    ] satisfies NumberedEvent[]);
    await log.end();
    const [use, result, out] = rows.map((r) => JSON.parse(r.data));
    expect(JSON.stringify(use).length).toBeLessThan(1200);
    expect(use.parameters.ephemera_cut).toMatch(/bytes left out/);
    expect(result).toMatchObject({
      id: 't',
      status: 'success',
      output: expect.stringMatching(/^x+\n\[ephemera: \d+ bytes left out\]\nx+$/),
    });
    expect(result.output.length).toBeLessThan(1100);
    expect(out.data).toBe(big); // output chunks are bounded by the log's own bound, not this one
  });

  it('writes in batches, in order, and leaves no timer behind', async () => {
    const { store, rows } = memoryEvents();
    const log = new RunEventLog('run_1', store, { maxBytes: 1 << 20, flushMs: 5 }, { logger });
    for (let i = 1; i <= 1200; i++) log.add([{ seq: i, event: 'stdout', data: { data: 'a' } }]);
    await log.end();
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
  });
});

describe('the replay of earlier turns’ steps', () => {
  it('reads the newest runs first and stops once their steps fill the bound', async () => {
    const { store, asked } = memoryEvents();
    const messages = [];
    for (let n = 1; n <= 40; n++) {
      const runId = `run_${String(n).padStart(2, '0')}`;
      messages.push({
        id: 2 * n - 1,
        role: 'user',
        content: 'q',
        runId,
        createdAt: n,
        omittedBytes: 0,
        sessionId: 's',
      });
      messages.push({
        id: 2 * n,
        role: 'assistant',
        content: 'a',
        runId,
        createdAt: n,
        omittedBytes: 0,
        sessionId: 's',
      });
      const output = 'o'.repeat(10_000);
      await store.append(runId, [
        { seq: 1, type: 'tool_use', data: JSON.stringify({ id: 't', name: 'Read', parameters: {} }), createdAt: n },
        {
          seq: 2,
          type: 'tool_result',
          data: JSON.stringify({ id: 't', status: 'success', output, error: null }),
          createdAt: n,
        },
      ]);
    }
    const replay = { kept: true, messages, omitted: 0, bytes: 0 } as never;
    const { replay: kept, steps } = await replayWithSteps(replay, store, 50_000);
    expect(asked.length).toBeLessThanOrEqual(2);
    expect(asked[0]).toContain('run_40');
    expect(asked.flat()).not.toContain('run_01');
    expect(kept.messages.at(-1)!.runId).toBe('run_40');
    expect(kept.messages[0]!.role).toBe('user');
    expect(kept.bytes).toBeLessThanOrEqual(50_000);
    for (const m of kept.messages) expect(steps.get(m.runId)?.tools).toHaveLength(1);
  });
});
