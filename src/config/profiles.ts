import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AgentKindSettings } from './agent-kinds.js';
import { ConfigError } from './env.js';

/**
 * An agent profile says how one kind of agent runs: which image, which command,
 * as whom, with which limits, and how a session's earlier turns are replayed into it.
 * The file format (snake_case JSON) is documented in docs/agents.md ("Agent profiles").
 */
export interface AgentProfile {
  name: string;
  /** Which registered agent runs it (src/runner/agents/registry.ts). */
  kind: string;
  image: string;
  /** Command and arguments; undefined runs the image's own CMD. */
  command: string[] | undefined;
  env: Record<string, string>;
  user: string;
  workdir: string | undefined;
  /** Docker network mode or network name; `none` means no network at all. */
  network: string;
  /** The default deadline; a request may ask for less, or up to maxTimeoutMs. */
  timeoutMs: number;
  maxTimeoutMs: number;
  /**
   * The container also keeps the deadline by itself, a few seconds after the service's, so a
   * run ends even if the service is gone: it runs under the image's `timeout` program.
   */
  ownDeadline: boolean;
  /**
   * The workdir is the session's workspace: restored at each run's start, taken back at its
   * end (src/runner/protocol/workspace.ts). Needs a workdir (a tmpfs of the run's user).
   */
  keepWorkspace: boolean;
  limits: { memoryBytes: number; nanoCpus: number; pids: number; nofile: number };
  /** Root filesystem mounted read-only; the writable places are the tmpfs mounts. */
  readOnlyRoot: boolean;
  /** Which OCI runtime runs its containers: runc, or gVisor (docs/security.md, "gVisor"). */
  runtime: OciRuntime;
  /** The operator accepts a network that is not locked down (`unsafe: ["open_egress"]`). */
  openEgress: boolean;
  /** tmpfs mounts: path -> mount options. /tmp and the workdir are always among them. */
  tmpfs: Record<string, string>;
  /** How earlier turns reach the agent: one of its kind's formats (`none`: not at all). */
  replay: string;
  /** Containers kept started ahead of their requests, each for one run (0: every run starts its own). */
  standby: number;
  /** The kind's own settings (its `"<kind>": {...}` block), parsed by its definition. */
  options: Readonly<Record<string, unknown>>;
}

export interface ProfileSet {
  defaultAgent: string;
  profiles: Map<string, AgentProfile>;
}

/**
 * The OCI runtimes a profile may name: `runc` (the engine's default runtime, runc unless its
 * operator chose another: the host's kernel) or `runsc` (gVisor: a kernel of its own in user
 * space between the container and the host's).
 */
export const OCI_RUNTIMES = ['runc', 'runsc'] as const;
export type OciRuntime = (typeof OCI_RUNTIMES)[number];

const NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * Settings that weaken a run's isolation. A profile may use one only if it says so in its
 * `unsafe` list, so that none of them is switched on by a slip in the file.
 */
export const UNSAFE_SETTINGS = [
  'host_network',
  'container_network',
  'root_user',
  'writable_root',
  'tmpfs_exec',
  'tmpfs_suid',
  'tmpfs_dev',
  // Checked at start, not here: a network that is not locked down (see src/runner/docker/egress-lock.ts).
  'open_egress',
] as const;
export type UnsafeSetting = (typeof UNSAFE_SETTINGS)[number];

interface UnsafeUse {
  setting: UnsafeSetting;
  path: string[];
  what: string;
}

/** What in a profile needs an `unsafe` acknowledgement, and why. */
function unsafeUses(p: {
  network: string;
  user: string;
  read_only_root: boolean;
  tmpfs: Record<string, string>;
}): UnsafeUse[] {
  const uses: UnsafeUse[] = [];
  const need = (setting: UnsafeSetting, path: string[], what: string) => uses.push({ setting, path, what });

  const network = p.network.toLowerCase();
  if (network === 'host') {
    need(
      'host_network',
      ['network'],
      `network "${p.network}" shares the host's network stack (every port and loopback service of the host)`,
    );
  } else if (network.startsWith('container:')) {
    need(
      'container_network',
      ['network'],
      `network "${p.network}" joins another container's network namespace (its ports and loopback services)`,
    );
  } else if (network.includes(':')) {
    // Network names hold no ':'. This is a mode with an argument, e.g. "ns:<path>" (engines
    // such as Podman), which joins any network namespace, the host's included.
    need(
      'host_network',
      ['network'],
      `network "${p.network}" is a mode with an argument, not a network name, and can reach the host's network (e.g. "ns:<path>")`,
    );
  }

  // The engine reads a numeric user as a uid ("0", "00", "+0" are all root), else as a
  // name; an empty uid or gid (":1000", "1000:") is root's too. Group root counts as root.
  const [uid = '', ...gids] = p.user.split(':');
  const isRoot = (id: string) => id === '' || id === 'root' || (/^[+-]?\d+$/.test(id) && Number(id) === 0);
  if (isRoot(uid) || gids.some(isRoot)) {
    need('root_user', ['user'], `user "${p.user}" runs as root (uid or gid 0)`);
  }

  if (!p.read_only_root)
    need('writable_root', ['read_only_root'], "read_only_root false lets a run write to the image's filesystem");

  // The engine mounts tmpfs noexec,nosuid,nodev unless the options say otherwise.
  for (const [mount, options] of Object.entries(p.tmpfs)) {
    const given = new Set(options.split(',').map((o) => o.trim()));
    if (given.has('exec'))
      need('tmpfs_exec', ['tmpfs', mount], `tmpfs ${mount} has "exec": programs written there can be run`);
    if (given.has('suid'))
      need('tmpfs_suid', ['tmpfs', mount], `tmpfs ${mount} has "suid": set-uid programs there keep their bit`);
    if (given.has('dev')) need('tmpfs_dev', ['tmpfs', mount], `tmpfs ${mount} has "dev": device files there work`);
  }
  return uses;
}

const BASE_SHAPE = {
  image: z.string().min(1),
  command: z.array(z.string()).min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  user: z.string().min(1).default('1000:1000'),
  workdir: z.string().startsWith('/').optional(),
  network: z.string().min(1).default('none'),
  timeout_ms: z.number().int().positive().default(60_000),
  max_timeout_ms: z.number().int().positive().optional(),
  own_deadline: z.boolean().default(true),
  /** The workdir carried from turn to turn (src/workspace); default: yes, when there is a workdir. */
  keep_workspace: z.boolean().optional(),
  limits: z
    .object({
      memory_mb: z.number().int().min(6).default(256),
      cpus: z.number().positive().max(64).default(1),
      pids: z.number().int().positive().default(256),
      nofile: z.number().int().min(64).default(1024),
      tmpfs_mb: z.number().int().positive().default(64),
    })
    .strict()
    .default({ memory_mb: 256, cpus: 1, pids: 256, nofile: 1024, tmpfs_mb: 64 }),
  read_only_root: z.boolean().default(true),
  runtime: z.enum(OCI_RUNTIMES).default('runc'),
  tmpfs: z.record(z.string().startsWith('/'), z.string()).default({}),
  replay: z.string().optional(),
  standby: z.number().int().min(0).max(32).default(0),
  unsafe: z.array(z.enum(UNSAFE_SETTINGS)).default([]),
};

/** One kind's profile: the common fields, its `kind`, and its own options block under its name. */
const memberOf = (d: AgentKindSettings) =>
  z.object({ ...BASE_SHAPE, kind: z.literal(d.kind), ...(d.options && { [d.kind]: d.options.optional() }) }).strict();

/** The schema of one profile, given the registered kinds (the first is the default `kind`). */
function profileSchemaFor(agents: readonly AgentKindSettings[]) {
  const kinds = agents.map((a) => a.kind) as [string, ...string[]];
  // The kinds that take an options block, under their own name (`command` takes none).
  const withOptions = agents.filter((d) => d.options).map((d) => d.kind);
  // An options block of another kind is a slip worth naming.
  const envelope = z.looseObject({ kind: z.enum(kinds).default(kinds[0]) }).superRefine((p, ctx) => {
    for (const kind of withOptions) {
      if (kind !== p.kind && p[kind] !== undefined)
        ctx.addIssue({ code: 'custom', path: [kind], message: `only for kind "${kind}"` });
    }
  });
  const members = agents.map(memberOf) as unknown as [ReturnType<typeof memberOf>];
  return envelope.pipe(z.discriminatedUnion('kind', members)).superRefine((p, ctx) => checkProfile(p, ctx, agents));
}

type ProfileSchema = ReturnType<typeof profileSchemaFor>;

function checkProfile(p: ParsedProfile, ctx: z.RefinementCtx, agents: readonly AgentKindSettings[]) {
  checkUnsafe(p, ctx);
  if (p.max_timeout_ms !== undefined && p.max_timeout_ms < p.timeout_ms) {
    ctx.addIssue({ code: 'custom', path: ['max_timeout_ms'], message: 'must be at least timeout_ms' });
  }
  // A standby container's files folder belongs to the run's user, given to the engine as a uid.
  if (p.standby > 0 && !/^\d+(:\d+)?$/.test(p.user)) {
    ctx.addIssue({
      code: 'custom',
      path: ['standby'],
      message: `needs a numeric user ("uid" or "uid:gid"), not "${p.user}"`,
    });
  }
  if (p.keep_workspace === true && (p.workdir === undefined || p.workdir === '/')) {
    ctx.addIssue({
      code: 'custom',
      path: ['keep_workspace'],
      message: 'needs a workdir (not "/"): the workspace is the workdir',
    });
  }
  const replays = kindOf(agents, p.kind).replays;
  if (p.replay !== undefined && !replays.includes(p.replay)) {
    ctx.addIssue({
      code: 'custom',
      path: ['replay'],
      message: `kind "${p.kind}" replays with ${replays.join(' or ')}`,
    });
  }
}

const kindOf = (agents: readonly AgentKindSettings[], kind: string) => agents.find((a) => a.kind === kind)!;

type ParsedProfile = z.output<ReturnType<typeof memberOf>>;

/** Every use of an unsafe setting is acknowledged, and every acknowledgement is used. */
function checkUnsafe(p: ParsedProfile, ctx: z.RefinementCtx) {
  const uses = unsafeUses(p);
  for (const use of uses) {
    if (!p.unsafe.includes(use.setting)) {
      const message = `${use.what}; if this profile means it, add "${use.setting}" to its "unsafe" list`;
      ctx.addIssue({ code: 'custom', path: use.path, message });
    }
  }
  p.unsafe.forEach((setting, i) => {
    // An acknowledgement that nothing uses would let a later edit switch it on silently.
    const message =
      p.unsafe.indexOf(setting) !== i
        ? `"${setting}" is listed twice`
        : setting === 'open_egress'
          ? p.network === 'none'
            ? '"open_egress" is acknowledged but this profile has no network: remove it'
            : undefined
          : !uses.some((u) => u.setting === setting)
            ? `"${setting}" is acknowledged but nothing in this profile uses it: remove it`
            : undefined;
    if (message) ctx.addIssue({ code: 'custom', path: ['unsafe', i], message });
  });
}

/** A profile as the file gives it (snake_case); `kind` may be left out for the default kind. */
export type ProfileInput = z.input<z.ZodObject<typeof BASE_SHAPE>> & { kind?: string } & { [kind: string]: unknown };

const profilesFileSchemaFor = (profile: ProfileSchema) =>
  z
    .object({
      default_agent: z.string().regex(NAME),
      profiles: z.record(z.string().regex(NAME, 'profile names are lower-case words: [a-z][a-z0-9_-]*'), profile),
    })
    .strict()
    .refine((f) => f.default_agent in f.profiles, { message: 'default_agent must name one of the profiles' });

export interface ProfilesFile {
  default_agent: string;
  profiles: Record<string, ProfileInput>;
}

/** The profiles used when no file is configured: each registered kind's own. */
export const builtinProfiles = (agents: readonly AgentKindSettings[]): ProfilesFile => ({
  default_agent: 'shell',
  profiles: Object.fromEntries(
    agents.flatMap((d) => (d.builtin ? [[d.builtin.name, d.builtin.profile as ProfileInput]] : [])),
  ),
});

/** A profiles file's content checked against the registered kinds (src/settings.ts passes them). */
export function parseProfiles(agents: readonly AgentKindSettings[], input: unknown, source = 'profiles'): ProfileSet {
  const parsed = profilesFileSchemaFor(profileSchemaFor(agents)).safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
  }
  const profiles = new Map<string, AgentProfile>();
  for (const [name, p] of Object.entries(parsed.data.profiles))
    profiles.set(name, toAgentProfile(name, p, kindOf(agents, p.kind)));
  return { defaultAgent: parsed.data.default_agent, profiles };
}

function toAgentProfile(name: string, p: ParsedProfile, definition: AgentKindSettings): AgentProfile {
  // The block was parsed with the profile; left out, its defaults still apply.
  const given = (p as Record<string, unknown>)[p.kind];
  const options = (given ?? definition.options?.parse({}) ?? {}) as Record<string, unknown>;
  return {
    name,
    kind: p.kind,
    image: p.image,
    command: p.command,
    env: p.env,
    user: p.user,
    workdir: p.workdir,
    network: p.network,
    timeoutMs: p.timeout_ms,
    maxTimeoutMs: p.max_timeout_ms ?? p.timeout_ms,
    ownDeadline: p.own_deadline,
    keepWorkspace: (p.keep_workspace ?? true) && p.workdir !== undefined && p.workdir !== '/',
    limits: {
      memoryBytes: p.limits.memory_mb * 1024 * 1024,
      nanoCpus: Math.round(p.limits.cpus * 1e9),
      pids: p.limits.pids,
      nofile: p.limits.nofile,
    },
    readOnlyRoot: p.read_only_root,
    runtime: p.runtime,
    openEgress: p.unsafe.includes('open_egress'),
    tmpfs: defaultTmpfs(p.user, p.workdir, p.limits.tmpfs_mb, p.tmpfs),
    replay: p.replay ?? definition.replays[0],
    standby: p.standby,
    options,
  };
}

/**
 * With a read-only root, a process still needs somewhere to write: /tmp, and its
 * working directory owned by the user it runs as. tmpfs counts against the memory limit.
 */
function defaultTmpfs(user: string, workdir: string | undefined, sizeMb: number, extra: Record<string, string>) {
  const [uid, gid] = user.split(':');
  const owner = /^\d+$/.test(uid ?? '') ? `,uid=${uid},gid=${/^\d+$/.test(gid ?? '') ? gid : uid}` : '';
  const mounts: Record<string, string> = { '/tmp': `rw,nosuid,nodev,size=${sizeMb}m,mode=1777` };
  if (workdir && workdir !== '/') mounts[workdir] = `rw,nosuid,nodev,size=${sizeMb}m,mode=0700${owner}`;
  return { ...mounts, ...extra };
}

export function loadProfiles(agents: readonly AgentKindSettings[], path: string | undefined): ProfileSet {
  if (path === undefined) return parseProfiles(agents, builtinProfiles(agents), 'built-in profiles');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read PROFILES_PATH ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`PROFILES_PATH ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseProfiles(agents, json, `profiles file ${path}`);
}
