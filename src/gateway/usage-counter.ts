import { charge, markOverBudget, type RunGrant } from './run-tokens.js';

/** A model call's token counts, from the API's `usageMetadata`. */
export interface CallUsage {
  input: number;
  output: number;
  total: number;
}

interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
}

/** How much of a JSON answer is kept to find its usage; an SSE line longer than this is skipped. */
const MAX_KEPT_BYTES = 8 * 1024 * 1024;

/**
 * Passes an answer through untouched, chunk by chunk, and charges its usage to the run.
 * A streamed answer (SSE) repeats a running `usageMetadata` in its events: each one is
 * charged as it passes (what it adds to the last), so a call the container stops reading
 * still pays for what it got. A JSON answer carries it once, at the end. An answer whose
 * usage cannot be read, under a token budget, ends the run: it could not be counted.
 */
export function usageCounter(contentType: string, grant: RunGrant): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const sse = contentType.includes('text/event-stream');
  let pending = '';
  let overflow = false;
  let charged: CallUsage = { input: 0, output: 0, total: 0 };
  let seen = false;
  const account = (u: UsageMetadata | undefined) => {
    if (!u) return;
    seen = true;
    const now = toUsage(u);
    charge(grant, { input: now.input - charged.input, output: now.output - charged.output, total: now.total - charged.total });
    charged = now;
  };
  const readLine = (line: string) => account(usageOf(/^data:\s?(.*)$/.exec(line.trim())?.[1] ?? ''));
  return new TransformStream({
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
      else if (!overflow) account(usageOf(pending));
      if (!seen && grant.budget.tokens !== undefined) markOverBudget(grant, 'a model answer carried no usage the gateway could count against the token budget');
    },
  });
}

function usageOf(json: string): UsageMetadata | undefined {
  if (!json.includes('usageMetadata')) return undefined;
  try {
    const parsed = JSON.parse(json) as { usageMetadata?: UsageMetadata } | Array<{ usageMetadata?: UsageMetadata }>;
    const items = Array.isArray(parsed) ? parsed : [parsed];
    return items.reverse().find((i) => i?.usageMetadata)?.usageMetadata;
  } catch {
    return undefined;
  }
}

function toUsage(u: UsageMetadata): CallUsage {
  const input = u.promptTokenCount ?? 0;
  const output = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  return { input, output, total: u.totalTokenCount ?? input + output };
}
