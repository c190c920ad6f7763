import { newId } from '../../src/db/ids.js';
import type { RunStatus } from '../../src/db/rows.js';
import type { Store } from '../../src/db/contract.js';
import { EMPTY_RUN_METRICS } from '../../src/run-metrics.js';

export interface SeedTurn {
  prompt: string;
  reply: string;
  status?: Exclude<RunStatus, 'running'>;
  firstByteMs?: number;
  totalMs?: number;
}

/** Writes a finished session through the same store calls a real run makes (no container). */
export async function seedSession(
  database: Store,
  opts: { agent?: string; keyId?: string | null; at?: number; turns: SeedTurn[] },
): Promise<{ sessionId: string; runIds: string[] }> {
  const store = database.transcripts;
  const sessionId = newId('ses');
  const runIds: string[] = [];
  let now = opts.at ?? Date.now();
  for (const [i, t] of opts.turns.entries()) {
    const runId = newId('run');
    runIds.push(runId);
    const begun = await store.beginTurn({
      sessionId,
      ...(i === 0 ? { newSessionAgent: opts.agent ?? 'shell' } : {}),
      runId,
      agent: opts.agent ?? 'shell',
      image: 'seed',
      instanceId: 'seed',
      keyId: opts.keyId ?? null,
      timeoutMs: 1000,
      prompt: t.prompt,
      now,
    });
    if (begun === 'busy') throw new Error('seed: busy');
    now += 1;
    await store.finishRun(runId, sessionId, {
      status: t.status ?? 'succeeded',
      exitCode: t.status === 'failed' ? 1 : 0,
      errorCode: null,
      errorMessage: null,
      stderr: '',
      output: { text: t.reply, omittedBytes: 0 },
      replay: null,
      metrics: {
        ...EMPTY_RUN_METRICS,
        queuedMs: 1,
        createMs: 10,
        startMs: 20,
        firstByteMs: t.firstByteMs ?? 50,
        totalMs: t.totalMs ?? 100,
        bytesOut: t.reply.length,
      },
      now,
    });
    now += 1;
  }
  return { sessionId, runIds };
}
