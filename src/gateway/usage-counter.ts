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

/** Stops reading a JSON answer for its usage past this size (the bytes still pass through). */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

/**
 * Passes an answer through untouched, chunk by chunk, and reports its usage once it has
 * ended. A streamed answer (SSE) repeats a running `usageMetadata` in its events: the last
 * one counts. A JSON answer carries it once.
 */
export function usageCounter(contentType: string, report: (usage: CallUsage) => void): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const sse = contentType.includes('text/event-stream');
  let pending = '';
  let seen = 0;
  let last: UsageMetadata | undefined;
  const readLine = (line: string) => {
    const data = /^data:\s?(.*)$/.exec(line.trim())?.[1];
    if (data) last = usageOf(data) ?? last;
  };
  return new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      seen += chunk.byteLength;
      if (!sse && seen > MAX_JSON_BYTES) return;
      pending += decoder.decode(chunk, { stream: true });
      if (!sse) return;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) readLine(line);
    },
    flush() {
      pending += decoder.decode();
      if (sse) readLine(pending);
      else if (seen <= MAX_JSON_BYTES) last = usageOf(pending);
      if (last) report(toUsage(last));
    },
  });
}

function usageOf(json: string): UsageMetadata | undefined {
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
