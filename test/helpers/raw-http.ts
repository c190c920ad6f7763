import { request } from 'node:http';

/** An answer as Node's HTTP client saw it: the bytes of its body, its trailers, and when its parts came. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  trailers: Record<string, string | undefined>;
  /** Milliseconds from the request's end to the status line, and to the body's first byte (null: none). */
  headersAtMs: number;
  firstByteAtMs: number | null;
}

/**
 * POSTs `body` to a real server and reads the whole answer, byte for byte (what a `curl -N` sees, and its trailers).
 */
export function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let sentAt = 0;
    const req = request(url, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers } }, (res) => {
      const headersAtMs = performance.now() - sentAt;
      let firstByteAtMs: number | null = null;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        firstByteAtMs ??= performance.now() - sentAt;
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          body: Buffer.concat(chunks),
          trailers: res.trailers,
          headersAtMs,
          firstByteAtMs,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body, () => (sentAt = performance.now()));
  });
}
