import type { StoredEnding } from '../contract.js';

/** A count an agent reported, as a column takes it: whole, and within a 32-bit integer (Postgres's `integer`). */
const count32 = (n: number | null) => (n === null ? null : Math.min(Math.max(Math.round(n), 0), 2 ** 31 - 1));

/** What a run's end writes into its row (both stores). */
export function endColumns(end: StoredEnding) {
  const m = end.metrics;
  return {
    status: end.status,
    exitCode: end.exitCode,
    errorCode: end.errorCode,
    errorMessage: end.errorMessage,
    stderr: end.stderr,
    ...m,
    // Agents' own figures (a Gemini result event's, say) may be fractional or huge; ours are whole ms and bytes.
    inputTokens: m.inputTokens === null ? null : Math.round(m.inputTokens),
    outputTokens: m.outputTokens === null ? null : Math.round(m.outputTokens),
    totalTokens: m.totalTokens === null ? null : Math.round(m.totalTokens),
    toolCalls: count32(m.toolCalls),
    modelCalls: count32(m.modelCalls),
    modelErrors: count32(m.modelErrors),
    ...(end.replay && {
      replayMessages: end.replay.messages,
      replayOmitted: end.replay.omitted,
      replayBytes: end.replay.bytes,
    }),
    ...(end.workspace && {
      workspaceInBytes: end.workspace.in?.bytes ?? null,
      workspaceInSha256: end.workspace.in?.sha256 ?? null,
      workspaceOutBytes: end.workspace.out?.bytes ?? null,
      workspaceOutSha256: end.workspace.out?.sha256 ?? null,
    }),
    endedAt: end.now,
  };
}
