import type { AgentEvent, ParsedOutput, ToolCall } from '../agent.js';
import { JsonLinesParser } from '../json-lines.js';

type Block = {
  type?: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
  is_error?: boolean;
};
type Line = {
  type?: string;
  attempt?: number;
  error_status?: number | null;
  error?: unknown;
  subtype?: string;
  message?: { id?: string; model?: string; content?: Block[] | string };
  /** The CLI's own stand-in for a failed call (model `<synthetic>`): an error, not the model's words. */
  isApiErrorMessage?: boolean;
  event?: { type?: string; message?: { id?: string }; delta?: { type?: string; text?: string } };
  is_error?: boolean;
  result?: string;
  errors?: unknown;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cache_creation_input_tokens?: number;
    cache_read_input_tokens?: number;
  };
};

/**
 * Parses Claude Code's `-p --output-format stream-json --verbose` output: one JSON object a
 * line — `system` (init), `stream_event` (the API's own events, with
 * `--include-partial-messages`: text deltas as they arrive), `assistant` (a whole message:
 * text and tool_use blocks), `user` (tool_result blocks), `result` (the verdict, usage).
 * A message whose text came as deltas is not emitted again when it arrives whole.
 */
export class ClaudeStreamParser extends JsonLinesParser<Line> {
  private readonly toolCalls = new Map<string, ToolCall>();
  private usage: ParsedOutput['usage'] = null;
  private result: ParsedOutput['result'] = null;
  /** The message the stream events are about, and the messages whose text was streamed. */
  private streaming: string | undefined;
  private readonly streamed = new Set<string>();

  get parsed(): ParsedOutput {
    return { toolCalls: [...this.toolCalls.values()], usage: this.usage, result: this.result };
  }

  protected line(e: Line): AgentEvent[] {
    switch (e.type) {
      case 'stream_event':
        return this.streamEvent(e.event ?? {});
      case 'assistant':
        // Its text is the error the result line reports too; as the reply it would be stored and replayed.
        if (e.isApiErrorMessage === true || e.message?.model === '<synthetic>') return [];
        return this.assistant(e.message ?? {});
      case 'user':
        return this.toolResults(e.message?.content);
      case 'result':
        this.finish(e);
        return [];
      case 'system':
        // The CLI retries a failed model call on its own; say so while the run waits.
        return e.subtype === 'api_retry'
          ? [{ type: 'warning', message: `model call failed (${retryWhy(e)}); Claude Code retries it` }]
          : [];
      default:
        return [];
    }
  }

  private streamEvent(event: NonNullable<Line['event']>): AgentEvent[] {
    if (event.type === 'message_start') this.streaming = event.message?.id;
    if (event.type !== 'content_block_delta' || event.delta?.type !== 'text_delta' || !event.delta.text) return [];
    if (this.streaming !== undefined) this.streamed.add(this.streaming);
    return [{ type: 'text', data: Buffer.from(event.delta.text, 'utf8') }];
  }

  private assistant(message: NonNullable<Line['message']>): AgentEvent[] {
    const blocks = Array.isArray(message.content) ? message.content : [];
    const textStreamed = message.id !== undefined && this.streamed.has(message.id);
    const events: AgentEvent[] = [];
    for (const b of blocks) {
      if (b.type === 'text' && b.text && !textStreamed)
        events.push({ type: 'text', data: Buffer.from(b.text, 'utf8') });
      if (b.type === 'tool_use') {
        const id = String(b.id ?? `tool_${this.toolCalls.size}`);
        const name = String(b.name ?? 'unknown');
        this.toolCalls.set(id, { id, name, parameters: b.input ?? null, status: null, output: null });
        events.push({ type: 'tool_use', id, name, parameters: b.input ?? null });
      }
    }
    return events;
  }

  private toolResults(content: Block[] | string | undefined): AgentEvent[] {
    if (!Array.isArray(content)) return [];
    return content
      .filter((b) => b.type === 'tool_result')
      .map((b) => {
        const id = String(b.tool_use_id ?? '');
        const text = textOf(b.content);
        const status = b.is_error ? 'error' : 'success';
        const call = this.toolCalls.get(id);
        if (call) Object.assign(call, { status, output: text });
        return {
          type: 'tool_result',
          id,
          status,
          output: b.is_error ? null : text,
          error: b.is_error ? text : null,
        } satisfies AgentEvent;
      });
  }

  private finish(e: Line): void {
    const u = e.usage ?? {};
    const input = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
    const output = u.output_tokens ?? 0;
    this.usage = {
      inputTokens: input,
      outputTokens: output,
      totalTokens: input + output,
      toolCalls: this.toolCalls.size,
    };
    const failed = e.is_error === true || (e.subtype !== undefined && e.subtype !== 'success');
    this.result = { status: failed ? 'error' : 'success', errorMessage: failed ? errorText(e) : null };
  }
}

/** A tool result's content: a string, or text blocks. */
function textOf(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  return (content as Block[]).map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');
}

function errorText(e: Line): string {
  if (typeof e.result === 'string' && e.result !== '') return e.result;
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors.map(String).join('; ');
  return `Claude Code ended with ${e.subtype ?? 'an error'}`;
}

function retryWhy(e: Line): string {
  const status = typeof e.error_status === 'number' ? `status ${e.error_status}` : 'no answer';
  return `${status}, attempt ${e.attempt ?? '?'}`;
}
