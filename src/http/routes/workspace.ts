import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { canSee } from '../../auth/principal.js';
import type { ProfileSet } from '../../config/profiles.js';
import type { TranscriptStore } from '../../db/contract.js';
import {
  entryPath,
  packWorkspace,
  readWorkspaceTar,
  storedEntries,
  WorkspaceError,
  type WorkspaceBounds,
} from '../../workspace/archive.js';
import { editWorkspace, type WorkspaceChange } from '../../workspace/edit.js';
import type { WorkspaceStore } from '../../db/contract.js';
import { errorResponse } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { ErrorSchema, IdParamSchema } from '../schemas.js';
import { validationHook } from '../validation-hook.js';

// A typed route's handler must return its declared responses; our errors are declared per route.
const fail = (...args: Parameters<typeof errorResponse>) => errorResponse(...args) as never;
const err = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });
const security = [{ bearer: [] }];
const tarBody = {
  content: { 'application/x-tar': { schema: z.string().openapi({ format: 'binary' }) } },
  description: 'A tar archive (not compressed)',
};

const WorkspaceSummarySchema = z
  .object({
    files: z.number().int().openapi({ description: 'Entries: files, folders and links' }),
    bytes: z.number().int().openapi({ description: 'Size of the stored archive' }),
    sha256: z
      .string()
      .nullable()
      .openapi({ description: 'Digest of the stored archive; null while the session has none' }),
  })
  .openapi('WorkspaceSummary');

const WorkspaceListSchema = WorkspaceSummarySchema.extend({
  items: z.array(
    z.object({
      path: z.string(),
      type: z.enum(['file', 'directory', 'symlink']),
      size: z.number().int(),
      mode: z.string().openapi({ example: '0644' }),
      target: z.string().optional().openapi({ description: "A link's target" }),
    }),
  ),
}).openapi('WorkspaceList');

const PathQuerySchema = z.object({
  path: z.string().min(1).openapi({ example: 'src/app.py', description: 'Relative to the workspace' }),
});
const summary = {
  content: { 'application/json': { schema: WorkspaceSummarySchema } },
  description: 'The workspace as stored now',
};
const writeErrors = {
  400: err('WORKSPACE_REJECTED: an absolute path, `..`, a link out, a device, a set-uid bit, not a tar'),
  401: err('UNAUTHORIZED'),
  404: err('NOT_FOUND (also for another owner’s session)'),
  409: err('SESSION_BUSY (a run is in progress) or WORKSPACE_NOT_KEPT (its profile keeps none)'),
  413: err('WORKSPACE_TOO_LARGE: over WORKSPACE_MAX_BYTES or WORKSPACE_MAX_FILES'),
};

/** PUT or POST of a tar to the workspace: the same request, a different change. */
function tarUpload<M extends 'put' | 'post'>(method: M, what: string) {
  return createRoute({
    method,
    path: '/v1/sessions/{id}/workspace',
    summary: what,
    security,
    request: { params: IdParamSchema, body: tarBody },
    responses: { 200: summary, ...writeErrors },
  });
}

const routes = {
  download: createRoute({
    method: 'get',
    path: '/v1/sessions/{id}/workspace',
    summary: "The session's workspace as a tar (empty when it has none)",
    security,
    request: { params: IdParamSchema },
    responses: { 200: tarBody, 401: err('UNAUTHORIZED'), 404: err('NOT_FOUND') },
  }),
  replace: tarUpload('put', "Replace the session's workspace with a tar's files"),
  extend: tarUpload('post', "Add a tar's files to the session's workspace (a path given replaces what was there)"),
  list: createRoute({
    method: 'get',
    path: '/v1/sessions/{id}/workspace/files',
    summary: "What the session's workspace holds",
    security,
    request: { params: IdParamSchema },
    responses: {
      200: { content: { 'application/json': { schema: WorkspaceListSchema } }, description: 'Its entries, by path' },
      401: err('UNAUTHORIZED'),
      404: err('NOT_FOUND'),
    },
  }),
  readFile: createRoute({
    method: 'get',
    path: '/v1/sessions/{id}/workspace/file',
    summary: 'One file of the workspace, as bytes',
    security,
    request: { params: IdParamSchema, query: PathQuerySchema },
    responses: {
      200: {
        content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        description: "The file's bytes",
      },
      400: err('WORKSPACE_REJECTED: not a path inside the workspace'),
      401: err('UNAUTHORIZED'),
      404: err('NOT_FOUND: no such session, or no file at that path'),
    },
  }),
  writeFile: createRoute({
    method: 'put',
    path: '/v1/sessions/{id}/workspace/file',
    summary: 'Write one file into the workspace (its folders are made)',
    security,
    request: {
      params: IdParamSchema,
      query: PathQuerySchema,
      body: {
        content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        description: "The file's bytes",
      },
    },
    responses: { 200: summary, ...writeErrors },
  }),
};

interface WorkspaceRouteDeps {
  transcripts: TranscriptStore;
  workspaces: WorkspaceStore;
  profiles: ProfileSet;
  bounds: WorkspaceBounds;
}

/** The session, if the caller may see it. */
async function visibleSession(deps: WorkspaceRouteDeps, c: Context<AuthEnv>, id: string) {
  const s = await deps.transcripts.getSession(id);
  return s && canSee(c.get('principal'), s) ? s : undefined;
}

/** Checks, makes and stores one change; the answer says what the workspace is now. */
async function changeWorkspace(
  deps: WorkspaceRouteDeps,
  c: Context<AuthEnv>,
  id: string,
  made: () => Promise<WorkspaceChange>,
) {
  const s = await visibleSession(deps, c, id);
  if (!s) return fail(c, 'NOT_FOUND', `session ${id} not found`);
  if (!deps.profiles.profiles.get(s.agent)?.keepWorkspace) {
    const why = `agent ${s.agent} keeps no workspace (its profile has no workdir, or keep_workspace: false)`;
    return fail(c, 'WORKSPACE_NOT_KEPT', why);
  }
  try {
    const edit = await editWorkspace(await deps.workspaces.get(id), await made(), deps.bounds);
    // A run in progress will store the workspace it leaves: an edit now would be lost.
    if (!(await deps.workspaces.putIfUnchanged(id, edit.workspace, edit.basedOn, Date.now()))) {
      const why = `session ${id} has a run in progress, or its workspace changed meanwhile; try again when it ends`;
      return fail(c, 'SESSION_BUSY', why);
    }
    const { files, bytes, sha256 } = edit.workspace;
    return c.json({ files, bytes, sha256 }, 200);
  } catch (e) {
    if (!(e instanceof WorkspaceError)) throw e;
    return fail(c, e.code, e.message);
  }
}

/** The archive plus its headers and end blocks; past it the upload cannot fit anyway. */
const uploadLimit = (bounds: WorkspaceBounds) =>
  bodyLimit({
    maxSize: bounds.maxBytes + 64 * 1024,
    onError: (c) =>
      errorResponse(
        c,
        'WORKSPACE_TOO_LARGE',
        `the upload is over what a session keeps (${bounds.maxBytes} bytes, WORKSPACE_MAX_BYTES)`,
      ),
  });

/** A session's workspace: download, replace or extend it, list it, read or write one file. */
export function workspaceRoutes(deps: WorkspaceRouteDeps) {
  const { workspaces, bounds } = deps;
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  const limit = uploadLimit(bounds);
  for (const path of ['/v1/sessions/:id/workspace', '/v1/sessions/:id/workspace/file'])
    app.on(['PUT', 'POST'], path, limit);
  const visible = (c: Context<AuthEnv>, id: string) => visibleSession(deps, c, id);
  const change = (c: Context<AuthEnv>, id: string, made: () => Promise<WorkspaceChange>) =>
    changeWorkspace(deps, c, id, made);
  const uploaded = async (c: Context<AuthEnv>) => readWorkspaceTar(Buffer.from(await c.req.arrayBuffer()), bounds);

  app.openapi(routes.download, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await visible(c, id))) return fail(c, 'NOT_FOUND', `session ${id} not found`);
    const tar = (await workspaces.get(id))?.tar ?? (await packWorkspace([])).tar;
    return c.body(new Uint8Array(tar), 200, {
      'Content-Type': 'application/x-tar',
      'Content-Disposition': `attachment; filename="${id}-workspace.tar"`,
      'X-Content-Type-Options': 'nosniff',
    }) as never;
  });

  app.openapi(routes.replace, (c) => change(c, c.req.valid('param').id, async () => ({ replace: await uploaded(c) })));
  app.openapi(routes.extend, (c) => change(c, c.req.valid('param').id, async () => ({ add: await uploaded(c) })));

  app.openapi(routes.list, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await visible(c, id))) return fail(c, 'NOT_FOUND', `session ${id} not found`);
    const stored = await workspaces.get(id);
    const items = (await storedEntries(stored?.tar)).map((e) => ({
      path: e.path,
      type: e.type,
      size: e.content?.length ?? 0,
      mode: e.mode.toString(8).padStart(4, '0'),
      ...(e.target !== undefined && { target: e.target }),
    }));
    return c.json({ items, files: stored?.files ?? 0, bytes: stored?.bytes ?? 0, sha256: stored?.sha256 ?? null }, 200);
  });

  app.openapi(routes.readFile, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await visible(c, id))) return fail(c, 'NOT_FOUND', `session ${id} not found`);
    let path: string;
    try {
      path = entryPath(c.req.valid('query').path);
    } catch (e) {
      return fail(c, 'WORKSPACE_REJECTED', (e as Error).message);
    }
    const file = (await storedEntries((await workspaces.get(id))?.tar)).find(
      (e) => e.path === path && e.type === 'file',
    );
    if (!file) return fail(c, 'NOT_FOUND', `no file at ${JSON.stringify(path)} in session ${id}'s workspace`);
    // Never rendered by a browser that follows a link to it: the bytes are the agent's, not ours.
    return c.body(new Uint8Array(file.content!), 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': 'attachment',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "sandbox; default-src 'none'",
    }) as never;
  });

  app.openapi(routes.writeFile, (c) =>
    change(c, c.req.valid('param').id, async () => {
      const path = entryPath(c.req.valid('query').path);
      if (path === '.') throw new WorkspaceError('REJECTED', 'a file needs a name');
      return {
        add: [{ path, type: 'file', mode: 0o644, mtime: new Date(), content: Buffer.from(await c.req.arrayBuffer()) }],
      };
    }),
  );

  return app;
}
