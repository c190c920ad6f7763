import type { TurnSteps } from '../events/turn-steps.js';
import type { MessageRow } from '../../db/rows.js';
import type { ContainerFile } from '../runtime.js';

/**
 * What differs between kinds of agent: how a turn is handed to the container, and how
 * its output becomes events, a reply and a verdict. Everything else (containers,
 * storage, streaming) is the same for all of them.
 */
export interface Agent {
  /** SSE event name for the reply's text: `stdout` for plain commands, `delta` for model text. */
  readonly textEvent: 'stdout' | 'delta';
  /** Whether stderr is part of the SSE stream (for CLIs it is start-up noise; it is stored either way). */
  readonly streamsStderr: boolean;
  prepare(turn: TurnInput): PreparedTurn;
  /** A fresh parser for one run's stdout. */
  parser(): OutputParser;
  /**
   * The verdict: succeeded or failed, from the exit code and what the parser saw (the run's ending may still be
   * another: see ../run/ending.ts).
   */
  judge(exitCode: number, parsed: ParsedOutput): Verdict;
}

export interface TurnInput {
  prompt: string;
  /** The earlier messages to replay, oldest first (the newest that fit REPLAY_MAX_BYTES). */
  history: MessageRow[];
  /** How many older messages were left out of `history`; the agent is told. */
  omitted: number;
  /** What each replayed reply's run did besides replying, by run id (none: only the text). */
  steps?: ReadonlyMap<string, TurnSteps>;
}

/** What a replay tells the agent when older messages were left out. */
export const omittedNote = (omitted: number) =>
  `[ephemera: ${omitted} earlier message(s) of this conversation were left out of the replay to keep it under REPLAY_MAX_BYTES]`;

/** How a run reaches its model: the gateway's URL and the run's own token, never the real key. */
export interface ModelAccess {
  baseUrl: string;
  token: string;
}

export interface PreparedTurn {
  command: string[] | undefined;
  /** Added to the profile's environment (no secrets: `docker inspect` shows it). */
  env?: Record<string, string>;
  files: ContainerFile[];
  stdin: Buffer;
}

export interface ToolCall {
  id: string;
  name: string;
  parameters: unknown;
  status: string | null;
  output: string | null;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  toolCalls: number;
}

export type AgentEvent =
  | { type: 'text'; data: Buffer }
  | { type: 'tool_use'; id: string; name: string; parameters: unknown }
  | { type: 'tool_result'; id: string; status: string; output: string | null; error: string | null }
  | { type: 'warning'; message: string };

/** What a parser made of the output besides the reply's text (the run collects that from `text` events). */
export interface ParsedOutput {
  toolCalls: ToolCall[];
  usage: Usage | null;
  /** The agent's own final verdict, when it gives one (Gemini's `result` event). */
  result: { status: 'success' | 'error'; errorMessage: string | null } | null;
}

export interface OutputParser {
  push(chunk: Buffer): AgentEvent[];
  /** The stream ended: flush anything held back. */
  end(): AgentEvent[];
  readonly parsed: ParsedOutput;
}

/** What an agent makes of its run: succeeded or failed, and why (docs/architecture.md, Glossary). */
export interface Verdict {
  status: 'succeeded' | 'failed';
  error: { code: string; message: string } | null;
}
