import type { Logger } from 'pino';
import type { StoredEnding } from '../../db/contract.js';
import type { TranscriptStore } from '../../db/contract.js';
import type { ModelUsage } from '../../gateway/run-tokens.js';
import { EMPTY_RUN_METRICS, type RunMetrics } from '../../run-metrics.js';
import type { Usage } from '../agents/agent.js';
import type { Ending } from './ending.js';
import type { OutputBuffer } from './output-buffer.js';
import type { PlannedRun } from './planned-run.js';
import type { Workspace } from '../../workspace/archive.js';

const STORE_END_ATTEMPTS = 6;

/** The error of a run the service itself failed (a bug, a broken database). */
export const SERVICE_FAULT = { code: 'INTERNAL', message: 'the service failed while handling this run' } as const;

/** What a run's end stores: how it ended, what it printed, its metrics and its replay. */
export function runEnd(
  run: PlannedRun,
  ended: Ending & { exitCode: number | null },
  printed: { reply: OutputBuffer; stderr: OutputBuffer },
  metrics: RunMetrics,
  workspaceOut?: Workspace,
): StoredEnding {
  const containerRan = metrics.startMs !== null;
  return {
    status: ended.status,
    exitCode: ended.exitCode,
    errorCode: ended.error?.code ?? null,
    errorMessage: ended.error?.message ?? null,
    stderr: printed.stderr.stored().text,
    output: containerRan ? printed.reply.stored() : null,
    metrics,
    replay: run.replay.kept
      ? { messages: run.replay.messages.length, omitted: run.replay.omitted, bytes: run.replay.bytes }
      : null,
    workspace: run.profile.keepWorkspace ? { in: run.workspace, out: workspaceOut } : null,
    now: Date.now(),
  };
}

/** The token metrics: what the agent reported, overruled by what the model gateway counted. */
export function tokenMetrics(reported: Usage | null, counted: ModelUsage | undefined): Partial<RunMetrics> {
  return {
    ...(reported && {
      inputTokens: reported.inputTokens,
      outputTokens: reported.outputTokens,
      totalTokens: reported.totalTokens,
      toolCalls: reported.toolCalls,
    }),
    // The gateway saw every call, whatever the CLI reports (or fails to, if it crashed).
    ...(counted && {
      inputTokens: counted.inputTokens,
      outputTokens: counted.outputTokens,
      totalTokens: counted.totalTokens,
      modelCalls: counted.calls,
      modelErrors: counted.errors,
    }),
  };
}

/** Stores runs' ends, so that no run is left `running` (its session would stay busy). */
export class RunRecord {
  constructor(
    private readonly store: TranscriptStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Stores a run's end. A failed write (SQLite locked past its busy timeout, Postgres out of
   * reach for a moment) is tried again for about 8 s, since a run left `running` keeps its
   * session busy; finishRun is one transaction and ends only a running run, so a retry never
   * stores the reply twice. Last, the end is stored without what the run printed: a reply the
   * database refuses must not keep the session busy for the process's whole life.
   */
  async storeEnd(runId: string, sessionId: string, end: StoredEnding): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.finishRun(runId, sessionId, end);
        return;
      } catch (err) {
        this.logger.error({ err, runId, attempt }, 'could not record the end of a run');
        if (attempt === STORE_END_ATTEMPTS) {
          // Still refused: the end without the reply, so that the session is free again (if even
          // that fails, the run stays `running` until the next start, or a survivor, interrupts it).
          return this.recordUnexpectedEnd(runId, sessionId, 0, end.metrics);
        }
        await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
      }
    }
  }

  /**
   * Ends a run that failed in the service itself (a bug, a broken database), so that its
   * session does not stay busy. Never throws: there is nobody left to tell.
   */
  async recordUnexpectedEnd(runId: string, sessionId: string, receivedAt: number, metrics?: RunMetrics): Promise<void> {
    try {
      // finishRun ends only a running run: an end stored after all is left as it is.
      await this.store.finishRun(runId, sessionId, {
        status: 'failed',
        exitCode: null,
        errorCode: SERVICE_FAULT.code,
        errorMessage: SERVICE_FAULT.message,
        stderr: '',
        output: null,
        metrics: metrics ?? { ...EMPTY_RUN_METRICS, totalMs: Math.round(performance.now() - receivedAt) },
        replay: null,
        now: Date.now(),
      });
    } catch (err) {
      this.logger.error({ err, runId }, 'could not record the end of a run');
    }
  }
}
