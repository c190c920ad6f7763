/** One server-sent event as a client reads it. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

/** The events of a whole text/event-stream body. */
export function sseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => /^event: /m.test(block))
    .map((block) => ({
      id: /^id: (.*)$/m.exec(block)?.[1],
      event: /^event: (.*)$/m.exec(block)![1]!,
      data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!),
    }));
}

/**
 * Reads a text/event-stream body event by event: `next()` gives the next whole event (undefined
 * at the end), `close()` lets go of the stream.
 */
export function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  return {
    async next(): Promise<SseEvent | undefined> {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end >= 0) {
          const block = buffered.slice(0, end + 2);
          buffered = buffered.slice(end + 2);
          const [e] = sseEvents(block);
          if (e) return e;
          continue;
        }
        const { done, value } = await reader.read();
        if (done) return undefined;
        buffered += decoder.decode(value, { stream: true });
      }
    },
    async rest(): Promise<SseEvent[]> {
      const all: SseEvent[] = [];
      for (let e = await this.next(); e; e = await this.next()) all.push(e);
      return all;
    },
    close: () => reader.cancel(),
  };
}
