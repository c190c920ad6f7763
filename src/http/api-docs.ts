import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Hono } from 'hono';
import { errorResponse } from './errors.js';

/**
 * GET /docs: Swagger UI over /openapi.json (schemas, "try it out" with a bearer key), its
 * files served from the swagger-ui-dist package here: no CDN, so it works offline and a
 * page of the operator's never loads code from elsewhere.
 */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// Started from the page's own file (not inline), so a Content-Security-Policy of 'self' can hold.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#api', deepLinking: true, persistAuthorization: false, tryItOutEnabled: false });\n`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ephemera API</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png"><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="api"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/docs/assets/init.js"></script>
</body></html>`;

// biome-ignore lint/suspicious/noExplicitAny: mounted on the app whatever its bindings
export function mountApiDocs(app: Hono<any>): void {
  const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, Buffer>();
  const secure = {
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    'X-Content-Type-Options': 'nosniff',
  };
  app.get('/docs', (c) => c.html(PAGE, 200, secure));
  app.get('/docs/assets/:file', (c) => {
    const file = c.req.param('file');
    if (file === 'init.js') return c.body(INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', ...secure });
    const type = ASSETS[file];
    if (!type) return errorResponse(c, 'NOT_FOUND', `no docs asset ${file}`);
    let body = cache.get(file);
    if (!body) {
      body = readFileSync(join(root, file));
      cache.set(file, body);
    }
    return c.body(new Uint8Array(body), 200, {
      'Content-Type': type,
      'Cache-Control': 'public, max-age=86400',
      ...secure,
    });
  });
}
