// An instant fake Gemini API for bench.mjs: the wire format of test/fake-gemini/server.ts, no delays.
// node images/gemini/bench-fake.mjs PORT
import { createServer } from 'node:http';
const port = Number(process.argv[2] ?? 0);
createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
  const contents = body.contents ?? body.generateContentRequest?.contents ?? [];
  const m = /models\/([^/:]+):(\w+)/.exec(req.url) ?? [];
  const usage = { promptTokenCount: 10, candidatesTokenCount: 2, totalTokenCount: 12 };
  const cand = (text) => ({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: usage,
    modelVersion: m[1],
  });
  process.stdout.write(`${Date.now()} ${m[2]} turns=${contents.length}\n`);
  if (m[2] === 'countTokens') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ totalTokens: 7 }));
  }
  if (m[2] === 'generateContent') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(cand('{}')));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`data: ${JSON.stringify(cand(`Hello from the instant fake: turns=${contents.length}`))}\r\n\r\n`);
}).listen(port, '0.0.0.0', () => process.stdout.write(`instant fake on ${port}\n`));
