import type { AgentEvent, ParsedOutput, ToolCall } from '../agent.js';
import { JsonLinesParser } from '../json-lines.js';

/**
 * Parses Gemini CLI's `-o stream-json` output: one JSON event a line —
 * init, message (user | assistant, `delta` for streamed text), tool_use, tool_result,
 * error (non-fatal), result (status, stats with token counts).
 */
export class GeminiStreamParser extends JsonLinesParser<Record<string, unknown>> {
  private readonly toolCalls = new Map<string, ToolCall>();
  private usage: ParsedOutput['usage'] = null;
  private result: ParsedOutput['result'] = null;

  get parsed(): ParsedOutput {
    return { toolCalls: [...this.toolCalls.values()], usage: this.usage, result: this.result };
  }

  protected line(e: Record<string, unknown>): AgentEvent[] {
    switch (e.type) {
      case 'message': {
        if (e.role !== 'assistant' || typeof e.content !== 'string' || e.content === '') return [];
        return [{ type: 'text', data: Buffer.from(e.content, 'utf8') }];
      }
      case 'tool_use': {
        const id = String(e.tool_id ?? `tool_${this.toolCalls.size}`);
        const name = String(e.tool_name ?? 'unknown');
        this.toolCalls.set(id, { id, name, parameters: e.parameters ?? null, status: null, output: null });
        return [{ type: 'tool_use', id, name, parameters: e.parameters ?? null }];
      }
      case 'tool_result': {
        const id = String(e.tool_id ?? '');
        const status = String(e.status ?? 'unknown');
        const output = typeof e.output === 'string' ? e.output : null;
        const error = errorMessage(e.error);
        const call = this.toolCalls.get(id);
        if (call) Object.assign(call, { status, output: output ?? error });
        return [{ type: 'tool_result', id, status, output, error }];
      }
      case 'error':
        return [{ type: 'warning', message: String(e.message ?? 'agent error') }];
      case 'result': {
        const stats = (e.stats ?? {}) as Record<string, unknown>;
        this.usage = {
          inputTokens: num(stats.input_tokens),
          outputTokens: num(stats.output_tokens),
          totalTokens: num(stats.total_tokens),
          toolCalls: num(stats.tool_calls),
        };
        this.result = { status: e.status === 'success' ? 'success' : 'error', errorMessage: errorMessage(e.error) };
        return [];
      }
      default:
        return [];
    }
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function errorMessage(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && 'message' in v) return String((v as { message: unknown }).message);
  return JSON.stringify(v);
}
