import { describe, expect, it } from 'vitest';
import { EventTyper } from '../../src/runner/events/event-typer.js';

const outcome = { status: 'failed' as const, exitCode: 1, error: { code: 'X', message: 'm' }, usage: null };
const metrics = {
  queuedMs: 1,
  createMs: 2,
  startMs: 3,
  firstByteMs: 4,
  totalMs: 5,
  bytesOut: 6,
  bytesErr: 7,
};

describe('EventTyper', () => {
  it('numbers events from 1, decodes each stream on its own, and holds a split character until it is whole', () => {
    const t = new EventTyper('stdout');
    const e = Buffer.from('é', 'utf8');
    expect(t.opening({ sessionId: 's', runId: 'r', agent: 'sh', timeoutMs: 9 })).toMatchObject({
      seq: 1,
      event: 'run',
    });
    expect(t.of({ type: 'text', data: e.subarray(0, 1) })).toEqual([]);
    expect(t.of({ type: 'stderr', data: Buffer.from('w') })).toEqual([
      { seq: 2, event: 'stderr', data: { data: 'w' } },
    ]);
    expect(t.of({ type: 'text', data: Buffer.concat([e.subarray(1), Buffer.from('a')]) })).toEqual([
      { seq: 3, event: 'stdout', data: { data: 'éa' } },
    ]);
    expect(t.of({ type: 'text', data: e.subarray(0, 1) })).toEqual([]);
    const closing = t.closing(outcome, metrics);
    expect(closing.map((x) => [x.seq, x.event])).toEqual([
      [4, 'stdout'],
      [5, 'error'],
      [6, 'done'],
    ]);
    expect(closing[0]).toMatchObject({ data: { data: '\ufffd' } });
    expect(closing[2]).toMatchObject({ data: { status: 'failed', exit_code: 1, metrics: { total_ms: 5 } } });
  });

  it("names a model's text delta, and passes tool events on", () => {
    const t = new EventTyper('delta');
    expect(t.of({ type: 'text', data: Buffer.from('hi') })).toEqual([{ seq: 1, event: 'delta', data: { text: 'hi' } }]);
    expect(t.of({ type: 'tool_use', id: 'a', name: 'Read', parameters: { p: 1 } })).toEqual([
      { seq: 2, event: 'tool_use', data: { id: 'a', name: 'Read', parameters: { p: 1 } } },
    ]);
    expect(t.of({ type: 'tool_result', id: 'a', status: 'success', output: 'x', error: null })).toEqual([
      { seq: 3, event: 'tool_result', data: { id: 'a', status: 'success', output: 'x', error: null } },
    ]);
    expect(t.closing({ ...outcome, error: null, status: 'succeeded' }, metrics).map((x) => x.event)).toEqual(['done']);
  });
});
