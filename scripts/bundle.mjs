// Bundles the service (src/index.ts) into dist/bundle/index.js, with dist/bundle/chunks/ for
// what it imports only when used (the Postgres store), for `npm start` and the Docker image.
// Why: minified ESM costs far less memory than the ~560 modules tsc's output loads one by
// one (BENCHMARKS.md, idle RSS).
//
// dockerode and docker-modem require @grpc/grpc-js, @grpc/proto-loader (BuildKit
// sessions) and ssh2 (ssh:// engines) at the top of their files, and ssh2 compiles a
// WebAssembly module as it loads: ~10 MB for code this service only needs with an
// ssh:// DOCKER_HOST. In the bundle each of them is a small stand-in that requires the
// real package from node_modules the first time it is used.
//
// The migrations/ folder is found from any of these files by walking up to package.json
// (src/db/shared/migrations.ts). Usage: node scripts/bundle.mjs [outfile]
import { rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';

// protobufjs: dockerode's BuildKit status decoder, required at its top, used only by image
// builds. @opentelemetry/api: prom-client's CPU metric, used only with exemplars.
const LAZY = ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', '@opentelemetry/api'];

/** A module whose every use loads `id` first; ssh2's Client must stay a constructor. */
const standIn = (id) => `
let real;
const load = () => (real ??= require(${JSON.stringify(id)}));
${
  id === 'ssh2'
    ? 'module.exports = { Client: function Client(...args) { return new (load().Client)(...args); } };'
    : 'module.exports = new Proxy({}, { get: (_, key) => load()[key], has: (_, key) => key in load() });'
}`;

const lazyTransports = {
  name: 'lazy-engine-transports',
  setup(b) {
    const filter = new RegExp(`^(${LAZY.map((id) => id.replace(/[/]/g, '\\/')).join('|')})$`);
    // From the stand-in itself, the id is the real package, left to node_modules.
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({ contents: standIn(args.path), loader: 'js' }));
  },
};

const outfile = process.argv[2] ?? 'dist/bundle/index.js';
// Chunks are named by their content's hash: last build's would stay beside this one's.
rmSync(join(dirname(outfile), 'chunks'), { recursive: true, force: true });
const result = await build({
  entryPoints: { [basename(outfile, '.js')]: 'src/index.ts' },
  outdir: dirname(outfile),
  // What a deployment may not use (the Postgres store, say) is imported when first needed:
  // a chunk of its own, never loaded on SQLite (BENCHMARKS.md, idle RSS).
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  minify: true,
  keepNames: true, // readable stack traces and error names
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  external: ['better-sqlite3'], // a native addon
  plugins: [lazyTransports],
  // Bundled CommonJS packages call require(); an ESM file has none of its own.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: process.env.BUNDLE_META !== undefined,
});
// BUNDLE_META=file: what each output file holds (for esbuild's analyser, or to see what a start loads).
if (process.env.BUNDLE_META) writeFileSync(process.env.BUNDLE_META, JSON.stringify(result.metafile));
