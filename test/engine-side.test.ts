import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, post, waitFor, type Harness } from './helpers/harness.js';

// What the engine keeps of a run, and what it does by itself when the service is gone.

const docker = new Docker();
let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

/** Reads a streamed reply until `marker` has arrived; `rest` resolves with the whole text. */
async function readUntil(res: Response, marker: string) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { text, rest };
}

/** `docker logs` of a container, or '' when its log driver keeps nothing to read. */
async function engineLogs(id: string): Promise<string> {
  try {
    return (await docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false })).toString('latin1');
  } catch (err) {
    expect((err as { statusCode?: number }).statusCode).toBe(501); // "configured logging driver does not support reading"
    return '';
  }
}

describe('the engine keeps nothing of the output', () => {
  it('runs the container with log driver none: the output streams to the client and is not in docker logs', async () => {
    const marker = `engine-log-marker-${Date.now()}`;
    const res = await h.app.request(post('/v1/run', `echo ${marker}; echo ${marker}-err >&2; sleep 1; echo done`));
    const seen = await readUntil(res, marker);
    expect(seen.text).toContain(marker);

    const [info] = await waitFor(async () => ((await h.leftovers()).length > 0 ? h.leftovers() : undefined));
    const inspect = await docker.getContainer(info!.Id).inspect();
    expect(inspect.State.Running).toBe(true);
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: 'none', Config: {} });
    expect(await engineLogs(info!.Id)).not.toContain(marker);

    expect(await seen.rest).toBe(`${marker}\ndone\n`);
  });
});
