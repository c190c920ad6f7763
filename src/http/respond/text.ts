import type { Context } from 'hono';
import type { RunHandle } from '../../runner/run/run.js';
import { runEndFields, succeeded } from '../ended-run.js';
import { endedBeforeOutput, failureLine, TEXT_HEADERS } from './text-ending.js';
import { trailersFor } from './trailers.js';

/**
 * Plain text: the reply as it arrives — a command's stdout byte for byte, or a model's text.
 *
 * The status line waits for the reply's first byte, or the run's end: a run that ends before
 * printing anything answers with its real status (a failed one with its JSON error), so
 * `curl --fail-with-body` tells failure from success. The headers and the first chunk leave
 * together. A run that fails after printing has already said 200: a client that sent
 * `TE: trailers` gets its end as trailers (Ephemera-Status, -Exit-Code, -Error-Code) and the
 * output untouched; any other gets one last line saying how the run ended. A run that
 * succeeds gets its output and nothing else.
 *
 * The body pulls from the run's channel directly (no TransformStream between), and text
 * that queued up while the client was busy goes out as one chunk.
 */
export async function respondText(c: Context, run: RunHandle): Promise<Response> {
  run.readsBytesOnly();
  const texts = replyChunks(run);
  const first = await texts.next();
  if (first.done) return endedBeforeOutput(c, await run.result);
  const trailers = trailersFor(c);
  const endsLine = (chunk: Buffer) => chunk[chunk.length - 1] === 0x0a;
  let atLineStart = endsLine(first.value);
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(first.value);
      },
      async pull(controller) {
        const next = await texts.next();
        if (!next.done) {
          atLineStart = endsLine(next.value);
          return controller.enqueue(next.value);
        }
        const r = await run.result;
        if (trailers) trailers.send(runEndFields(r));
        else if (!succeeded(r)) controller.enqueue(failureLine(r, atLineStart));
        controller.close();
      },
      cancel() {
        run.cancel();
      },
    },
    { highWaterMark: 0 },
  );
  return c.body(body, 200, { ...TEXT_HEADERS, ...trailers?.headers });
}

/** The reply's text as it arrives: what queued up at once, as one chunk; other events are left out. */
async function* replyChunks(run: RunHandle): AsyncGenerator<Buffer, void> {
  for await (const batch of run.events.batches()) {
    const texts: Buffer[] = [];
    for (const o of batch) if (o.reply) texts.push(o.reply);
    if (texts.length > 0) yield texts.length === 1 ? texts[0]! : Buffer.concat(texts);
  }
}
