import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, listen, waitFor, type Harness } from './helpers/harness.js';

// A client that sends its request and then stops reading must not hold its run, nor the
// run's slot, past the run's deadline (it did: the run waited on the full channel forever).

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({ maxOutputBytes: 256 * 1024 * 1024 });
  server = await listen(h.app);
});
afterAll(async () => {
  await server.close();
  await h.close();
});

describe('a client that stops reading', () => {
  it('does not keep its run past the deadline: the run ends as timeout and frees its slot', async () => {
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.pause(); // never reads: the kernel buffers fill, then the run's channel
    const body = 'yes ephemera';
    socket.write(
      `POST /v1/run?timeout_ms=1500 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    try {
      const run = await waitFor(async () => (await h.rows<{ id: string }>(`select id from runs limit 1`))[0]);
      const ended = await waitFor(
        async () => {
          const r = (await h.service.transcripts.getRun(run.id))!;
          return r.status !== 'running' ? r : undefined;
        },
        15_000,
        100,
      );
      expect(ended.status).toBe('timeout');
      expect(h.service.runs.admission.inFlight).toBe(0);
      expect(socket.destroyed).toBe(false); // the client is still there, not reading
      expect(await waitFor(async () => (await h.leftovers()).length === 0, 10_000)).toBe(true);
    } finally {
      socket.destroy();
    }
  });
});
