import type { Context } from 'hono';
import type { RunHandle } from '../../runner/run.js';

/**
 * Plain text: the reply as it arrives — a command's stdout byte for byte, or a model's
 * text. The body pulls from the run's channel directly (no TransformStream between), and
 * text that queued up while the client was busy goes out as one chunk.
 */
export function respondText(c: Context, run: RunHandle): Response {
  const batches = run.events.batches();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const next = await batches.next();
          if (next.done) return controller.close();
          const texts: Buffer[] = [];
          for (const e of next.value) if (e.type === 'text') texts.push(e.data);
          if (texts.length === 0) continue;
          return controller.enqueue(texts.length === 1 ? texts[0]! : Buffer.concat(texts));
        }
      },
      cancel() {
        run.cancel();
      },
    },
    { highWaterMark: 0 },
  );
  return c.body(body, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
}
