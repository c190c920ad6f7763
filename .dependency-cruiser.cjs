// The module boundaries of src/ (docs/architecture.md, "Code map"), checked by `npm run lint`.
// Type-only imports count: two modules that name each other's types cannot be read apart.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle, type imports counted: move the shared part to a module both can import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'config-knows-no-agent',
      severity: 'error',
      comment: 'config/ reads settings; the agents it checks profiles against are handed in (src/settings.ts).',
      from: { path: '^src/config/' },
      to: { path: '^src/(runner|http|gateway|db)/' },
    },
    {
      name: 'postgres-apart-from-sqlite',
      severity: 'error',
      comment: 'The dialects stand side by side: what both need lives in src/db/shared/.',
      from: { path: '^src/db/postgres/' },
      to: { path: '^src/db/sqlite/' },
    },
    {
      name: 'sqlite-apart-from-postgres',
      severity: 'error',
      comment: 'The dialects stand side by side: what both need lives in src/db/shared/.',
      from: { path: '^src/db/sqlite/' },
      to: { path: '^src/db/postgres/' },
    },
    {
      name: 'shared-store-code-has-no-dialect',
      severity: 'error',
      comment: 'src/db/shared/ and the contract are what no dialect owns.',
      from: { path: '^src/db/(shared/|contract\\.ts)' },
      to: { path: '^src/db/(sqlite|postgres)/' },
    },
    {
      name: 'http-knows-the-contract-only',
      severity: 'error',
      comment: 'Routes use the store through src/db/contract.ts; which database it is, is wiring (src/db/open-store.ts).',
      from: { path: '^src/http/' },
      to: { path: '^src/db/(sqlite|postgres)/' },
    },
    {
      name: 'runner-knows-the-contract-only',
      severity: 'error',
      comment: 'A run uses the store through src/db/contract.ts.',
      from: { path: '^src/runner/' },
      to: { path: '^src/db/(sqlite|postgres)/' },
    },
    {
      name: 'webhooks-know-the-contract-only',
      severity: 'error',
      comment: 'The dispatcher uses the store through src/db/contract.ts.',
      from: { path: '^src/webhooks/' },
      to: { path: '^src/db/(sqlite|postgres)/' },
    },
    {
      name: 'a-run-knows-the-seam-only',
      severity: 'error',
      comment: 'A run asks for containers through ContainerRuntime (src/runner/runtime.ts), whatever the engine.',
      from: { path: '^src/runner/run/' },
      to: { path: '^src/runner/docker/' },
    },
    {
      name: 'http-knows-no-engine',
      severity: 'error',
      comment: 'Routes ask the run service for runs; the engine behind it is wiring (src/service.ts).',
      from: { path: '^src/http/' },
      to: { path: '^src/runner/docker/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist)/' },
  },
};
