import type { Context } from 'hono';
import { stream } from 'hono/streaming';
import type { RunHandle } from '../../runner/run-service.js';

/** Plain text: the reply as it arrives — a command's stdout byte for byte, or a model's text. */
export function respondText(c: Context, run: RunHandle): Response {
  c.header('Content-Type', 'text/plain; charset=utf-8');
  c.header('X-Content-Type-Options', 'nosniff');
  return stream(c, async (s) => {
    s.onAbort(() => run.cancel());
    for await (const event of run.events) {
      if (s.aborted) break;
      if (event.type === 'text') await s.write(event.data);
    }
  });
}
