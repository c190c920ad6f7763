import { StringDecoder } from 'node:string_decoder';
import type { AgentEvent, OutputParser, ParsedOutput } from './agent.js';

/**
 * The part every CLI printing one JSON object a line shares: chunks cut anywhere (inside a
 * line, inside a UTF-8 character) become whole lines; a line that is not JSON is a warning.
 */
export abstract class JsonLinesParser<Line> implements OutputParser {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  abstract readonly parsed: ParsedOutput;
  /** The events one parsed line gives. */
  protected abstract line(line: Line): AgentEvent[];

  push(chunk: Buffer): AgentEvent[] {
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines.flatMap((line) => this.parse(line));
  }

  end(): AgentEvent[] {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest.trim() ? this.parse(rest) : [];
  }

  private parse(text: string): AgentEvent[] {
    if (!text.trim()) return [];
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      line = undefined;
    }
    // Only an object is an event: `null`, a number or an array from a stray print is not.
    if (typeof line !== 'object' || line === null || Array.isArray(line)) {
      return [{ type: 'warning', message: `unparsed output line: ${text.slice(0, 200)}` }];
    }
    return this.line(line as Line);
  }
}
