import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Gemini API (generativelanguage.googleapis.com, v1beta) for tests: it speaks the
 * wire format the real Gemini CLI uses and answers every prompt with
 * "turns=<N>" where N is the number of `contents` it received, so a test can see how
 * much of a conversation reached the model. It streams the answer in several chunks with
 * delays. Markers in the last user message change its behaviour:
 *   FAKE_ERROR_400   answer 400 INVALID_ARGUMENT (the CLI does not retry it)
 *   FAKE_ERROR_500   answer 500 INTERNAL (the CLI retries it for minutes: not for tests)
 *   FAKE_SLOW        wait 400 ms between chunks instead of 150
 *   FAKE_FAST        no wait between chunks (to time the CLI, not the fake)
 *   FAKE_TOOL        ask the CLI to call the `list_directory` tool first
 *   FAKE_WRITE_FILE  ask it to write /workspace/notes/hello.txt (`write_file`) first
 *   FAKE_READ_FILE   ask it to read that file back (`read_file`) first
 */
export interface FakeGeminiRequest {
  method: string;
  model: string;
  action: string;
  apiKey: string | undefined;
  turns: number;
  lastUserText: string;
  body: GenerateContentRequest;
}

interface Part {
  text?: string;
  functionCall?: { name: string; args: Record<string, unknown> };
  functionResponse?: { name: string; response: unknown };
  thought?: boolean;
}
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}
interface GenerateContentRequest {
  contents?: Content[];
}

export interface FakeGemini {
  url: string;
  port: number;
  requests: FakeGeminiRequest[];
  close(): Promise<void>;
}

const CHUNK_DELAY_MS = 150;

export async function startFakeGemini(
  opts: { host?: string; port?: number; apiKey?: string } = {},
): Promise<FakeGemini> {
  const requests: FakeGeminiRequest[] = [];
  const server: Server = createServer((req, res) => {
    handle(req, res, requests, opts.apiKey).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 500, message: String(err), status: 'INTERNAL' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, log: FakeGeminiRequest[], expectedKey?: string) {
  const url = new URL(req.url ?? '/', 'http://fake');
  const match = /^\/v1beta\/models\/([^/:]+):(streamGenerateContent|generateContent|countTokens)$/.exec(url.pathname);
  if (!match || req.method !== 'POST')
    return sendError(res, 404, 'NOT_FOUND', `no route ${req.method} ${url.pathname}`);
  const [, model, action] = match as unknown as [string, string, string];
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as GenerateContentRequest & {
    generateContentRequest?: GenerateContentRequest;
  };
  const contents = body.contents ?? body.generateContentRequest?.contents ?? [];
  const apiKey = (req.headers['x-goog-api-key'] as string | undefined) ?? url.searchParams.get('key') ?? undefined;
  const lastUser = [...contents].reverse().find((c) => c.role === 'user');
  const lastUserText = (lastUser?.parts ?? []).map((p) => p.text ?? '').join('');
  log.push({ method: req.method, model, action, apiKey, turns: contents.length, lastUserText, body });

  if (expectedKey !== undefined && apiKey !== expectedKey) {
    return sendError(
      res,
      400,
      'INVALID_ARGUMENT',
      'API key not valid. Please pass a valid API key.',
      'API_KEY_INVALID',
    );
  }
  if (action === 'countTokens') return sendJson(res, { totalTokens: 7 * contents.length });
  if (lastUserText.includes('FAKE_ERROR_400'))
    return sendError(res, 400, 'INVALID_ARGUMENT', 'the fake model rejected the request on purpose');
  if (lastUserText.includes('FAKE_ERROR_500'))
    return sendError(res, 500, 'INTERNAL', 'the fake model failed on purpose');

  // Asked for a tool and not answered yet in this turn (a replayed earlier turn's answers do not count).
  const answeredSincePrompt = contents
    .slice(contents.lastIndexOf(lastUser!))
    .some((c) => c.parts.some((p) => p.functionResponse));
  const wantsTool = toolAsked(lastUserText) !== undefined && !answeredSincePrompt;
  const pieces = wantsTool ? [] : [`Hello `, `from the fake model: `, `turns=${contents.length}`];
  const usage = {
    promptTokenCount: 10 * contents.length,
    candidatesTokenCount: pieces.length * 2,
    totalTokenCount: 10 * contents.length + pieces.length * 2,
  };
  const candidate = (parts: Part[], finish?: string) => ({
    candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
    usageMetadata: usage,
    modelVersion: model,
  });

  if (action === 'generateContent') {
    // Used by the CLI for side calls (routing, titles, checks): answer at once, in one piece.
    const text =
      action === 'generateContent' && /json/i.test(JSON.stringify(body).slice(0, 2000)) ? '{}' : pieces.join('');
    return sendJson(res, candidate([{ text: text || 'ok' }], 'STOP'));
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const delay = lastUserText.includes('FAKE_SLOW') ? 400 : lastUserText.includes('FAKE_FAST') ? 0 : CHUNK_DELAY_MS;
  if (wantsTool) {
    res.write(`data: ${JSON.stringify(candidate([{ functionCall: toolAsked(lastUserText)! }], 'STOP'))}\r\n\r\n`);
    return res.end();
  }
  for (let i = 0; i < pieces.length; i++) {
    const last = i === pieces.length - 1;
    res.write(`data: ${JSON.stringify(candidate([{ text: pieces[i] }], last ? 'STOP' : undefined))}\r\n\r\n`);
    if (!last) await new Promise((r) => setTimeout(r, delay));
  }
  res.end();
}

/** The CLI tool a marker asks for (its real names and parameters), before any tool has answered. */
function toolAsked(text: string): { name: string; args: Record<string, unknown> } | undefined {
  if (text.includes('FAKE_TOOL')) return { name: 'list_directory', args: { dir_path: '.' } };
  if (text.includes('FAKE_WRITE_FILE'))
    return { name: 'write_file', args: { file_path: '/workspace/notes/hello.txt', content: 'written by the model\n' } };
  if (text.includes('FAKE_READ_FILE')) return { name: 'read_file', args: { file_path: '/workspace/notes/hello.txt' } };
  return undefined;
}

function sendJson(res: ServerResponse, body: unknown) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, code: number, status: string, message: string, reason?: string) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      error: {
        code,
        message,
        status,
        ...(reason
          ? { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com' }] }
          : {}),
      },
    }),
  );
}

// `tsx test/fake-gemini/server.ts [port] [host]` runs it by hand (scripts/image-smoke.sh does).
if (import.meta.url === `file://${process.argv[1]}`) {
  const host = process.argv[3] ?? '0.0.0.0';
  const fake = await startFakeGemini({ port: Number(process.argv[2] ?? 0), host });
  process.stdout.write(`fake Gemini API on ${host}:${fake.port}\n`);
  setInterval(() => {
    while (fake.requests.length) {
      const r = fake.requests.shift()!;
      process.stdout.write(
        `${r.action} model=${r.model} turns=${r.turns} key=${r.apiKey ? 'set' : 'none'} last=${JSON.stringify(r.lastUserText.slice(0, 60))}\n`,
      );
    }
  }, 200);
}
