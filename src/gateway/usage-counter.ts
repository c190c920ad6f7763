import { charge, markOverBudget, type RunGrant } from './run-tokens.js';

/** A model call's token counts so far. */
export interface CallUsage {
  input: number;
  output: number;
  total: number;
}

/**
 * Reads one call's usage from its answer, an API's way: fed each SSE event's data (or the
 * whole JSON answer), it gives the call's running totals when that part reports them.
 */
export interface UsageReader {
  /** A string every part that reports usage contains: the rest is not parsed. */
  hint: string;
  read(part: unknown): CallUsage | undefined;
  /** Whether what was read so far is the call's whole usage (an API that reports output last says not until then). */
  complete(): boolean;
}

/** An answer passing through, and whether its whole usage was read (false until it was). */
export interface CountedAnswer {
  stream: TransformStream<Uint8Array, Uint8Array>;
  usageComplete(): boolean;
}

/** How much of a JSON answer is kept to find its usage; an SSE line longer than this is skipped. */
const MAX_KEPT_BYTES = 8 * 1024 * 1024;

/**
 * Passes an answer through untouched, chunk by chunk, and charges its usage to the run.
 * A streamed answer (SSE) reports running totals in its events: each one is charged as it
 * passes (what it adds to the last), so a call the container stops reading still pays for
 * what it got. A JSON answer carries it once, at the end. An answer whose usage cannot be
 * read, under a token budget, ends the run: it could not be counted.
 */
export function usageCounter(contentType: string, grant: RunGrant, reader: UsageReader): CountedAnswer {
  const decoder = new TextDecoder();
  const sse = contentType.includes('text/event-stream');
  let pending = '';
  let overflow = false;
  let charged: CallUsage = { input: 0, output: 0, total: 0 };
  let seen = false;
  const account = (json: string) => {
    const now = usageOf(json, reader);
    if (!now) return;
    seen = true;
    charge(grant, {
      input: now.input - charged.input,
      output: now.output - charged.output,
      total: now.total - charged.total,
    });
    charged = now;
  };
  const readLine = (line: string) => account(/^data:\s?(.*)$/.exec(line.trim())?.[1] ?? '');
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      if (overflow) return;
      pending += decoder.decode(chunk, { stream: true });
      if (sse) {
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) readLine(line);
      }
      if (pending.length > MAX_KEPT_BYTES) {
        overflow = !sse; // an SSE line this long is skipped; a JSON answer this long is given up on
        pending = '';
      }
    },
    flush() {
      pending += decoder.decode();
      if (sse) readLine(pending);
      else if (!overflow) account(pending);
      if (!seen && grant.budget.tokens !== undefined)
        markOverBudget(grant, 'a model answer carried no usage the gateway could count against the token budget');
    },
  });
  return { stream, usageComplete: () => seen && reader.complete() };
}

function usageOf(json: string, reader: UsageReader): CallUsage | undefined {
  if (!json.includes(reader.hint)) return undefined;
  try {
    return reader.read(JSON.parse(json));
  } catch {
    return undefined;
  }
}
