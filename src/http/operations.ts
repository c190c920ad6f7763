/**
 * Every operation's operationId and tag, in one table: generated clients name their methods
 * after the ids, and /docs groups by the tags. The /openapi.json test fails on an operation
 * missing here.
 */
export const OPERATIONS: Record<string, { operationId: string; tag: string }> = {
  'post /v1/run': { operationId: 'runNewSession', tag: 'runs' },
  'post /v1/sessions/{id}/messages': { operationId: 'runNextTurn', tag: 'runs' },
  'get /v1/ws': { operationId: 'openConversation', tag: 'runs' },
  'get /v1/sessions': { operationId: 'listSessions', tag: 'history' },
  'get /v1/sessions/{id}': { operationId: 'getSession', tag: 'history' },
  'delete /v1/sessions/{id}': { operationId: 'deleteSession', tag: 'history' },
  'get /v1/sessions/{id}/runs': { operationId: 'listSessionRuns', tag: 'history' },
  'get /v1/runs/{id}': { operationId: 'getRun', tag: 'history' },
  'get /v1/runs/{id}/events': { operationId: 'getRunEvents', tag: 'runs' },
  'get /v1/stats': { operationId: 'getStats', tag: 'history' },
  'get /v1/sessions/{id}/workspace': { operationId: 'downloadWorkspace', tag: 'workspace' },
  'put /v1/sessions/{id}/workspace': { operationId: 'replaceWorkspace', tag: 'workspace' },
  'post /v1/sessions/{id}/workspace': { operationId: 'addToWorkspace', tag: 'workspace' },
  'get /v1/sessions/{id}/workspace/files': { operationId: 'listWorkspaceFiles', tag: 'workspace' },
  'get /v1/sessions/{id}/workspace/file': { operationId: 'readWorkspaceFile', tag: 'workspace' },
  'put /v1/sessions/{id}/workspace/file': { operationId: 'writeWorkspaceFile', tag: 'workspace' },
  'post /v1/chat/completions': { operationId: 'createChatCompletion', tag: 'openai' },
  'get /v1/models': { operationId: 'listModels', tag: 'openai' },
  'get /v1/models/{id}': { operationId: 'getModel', tag: 'openai' },
  'get /readyz': { operationId: 'ready', tag: 'health' },
};

export const TAGS = [
  {
    name: 'runs',
    description: 'A prompt in a fresh container: a new session, or the next turn of one (HTTP or WebSocket)',
  },
  { name: 'history', description: 'Sessions, transcripts, runs and their metrics, stats' },
  { name: 'workspace', description: "A session's files, carried across its turns" },
  { name: 'openai', description: 'The OpenAI-compatible API: each agent profile is a model' },
  { name: 'health', description: 'Liveness and readiness' },
];

/** The document with each operation's id and tag from the table. */
export function withOperations<D extends { paths?: object }>(doc: D): D & { tags: typeof TAGS } {
  for (const [path, ops] of Object.entries(doc.paths ?? {}) as [string, Record<string, object>][]) {
    for (const [method, op] of Object.entries(ops)) {
      const known = OPERATIONS[`${method} ${path}`];
      if (known) Object.assign(op, { operationId: known.operationId, tags: [known.tag] });
    }
  }
  return { ...doc, tags: TAGS };
}
