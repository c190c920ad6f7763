import type Docker from 'dockerode';

/** The engines the service drives through the Docker Engine API: Docker's own, or Podman's compatible one. */
export type EngineKind = 'docker' | 'podman';

/** Which engine answers, from `GET /version` (Podman names its component "Podman Engine"). */
export async function engineKindOf(docker: Docker): Promise<EngineKind> {
  const version = (await docker.version()) as { Components?: Array<{ Name?: string }> };
  return version.Components?.some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
}

/**
 * Creates containers in the words of the engine that answers. The options are Docker's; Podman
 * reads a few of them differently, and drops one (forPodman), and must enforce the limits at all
 * (podmanSettings). The engine is asked once (again after a failure: it may not have been up yet).
 */
export class EngineDialect {
  private kind: Promise<EngineKind> | undefined;
  private podmanNproc: Promise<number | undefined> | undefined;

  constructor(private readonly docker: Docker) {}

  kindOf(): Promise<EngineKind> {
    this.kind ??= retriedOnFailure(engineKindOf(this.docker), () => (this.kind = undefined));
    return this.kind;
  }

  async createContainer(options: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    if ((await this.kindOf()) === 'docker') return this.docker.createContainer(options);
    this.podmanNproc ??= retriedOnFailure(podmanSettings(this.docker, options), () => (this.podmanNproc = undefined));
    return this.docker.createContainer(forPodman(options, await this.podmanNproc));
  }
}

/**
 * What the service needs of a Podman before it creates anything there: cgroup controllers that
 * enforce its limits (rootless Podman on cgroups v1 has none: a run's memory, pids and CPU limits
 * would be dropped without a word, measured), then its configured nproc.
 */
async function podmanSettings(docker: Docker, like: Docker.ContainerCreateOptions): Promise<number | undefined> {
  const info = (await dial(docker, '/v4.0.0/libpod/info')) as { host?: { cgroupControllers?: string[] } };
  const missing = missingControllers(info.host?.cgroupControllers ?? []);
  if (missing.length > 0) {
    throw new Error(
      `this Podman cannot enforce a run's limits (no ${missing.join(', ')} cgroup controller: rootless on cgroups v1?): ` +
        'run it as root, or rootless on cgroups v2 with those controllers delegated',
    );
  }
  return defaultNproc(docker, like);
}

/** The cgroup controllers the service's limits need (memory, pids, CPU) that a Podman lacks. */
export function missingControllers(controllers: string[]): string[] {
  return ['memory', 'pids', 'cpu'].filter((c) => !controllers.includes(c));
}

/** A GET on the engine's API, for what dockerode has no call for (Podman's own endpoints). */
export function dial(docker: Docker, path: string): Promise<unknown> {
  const modem = docker.modem as { dial(options: object, cb: (err: unknown, json: unknown) => void): void };
  return new Promise((resolve, reject) =>
    modem.dial(
      { path, method: 'GET', statusCodes: { 200: true, 404: 'not found', 500: 'server error' } },
      (err, json) => (err ? reject(err) : resolve(json)),
    ),
  );
}

function retriedOnFailure<T>(asked: Promise<T>, forget: () => void): Promise<T> {
  asked.catch(forget);
  return asked;
}

/**
 * The nproc limit Podman gives a container that asks for no ulimit: its containers.conf's
 * `default_ulimits` (npm run setup writes one within the host's limits). Read from a container
 * created (never started) for it, then removed.
 */
async function defaultNproc(docker: Docker, like: Docker.ContainerCreateOptions): Promise<number | undefined> {
  const probe = await docker.createContainer({
    Image: like.Image,
    Cmd: ['true'],
    // Managed, with a deadline a minute off: if its removal fails, a reaper's sweep takes it then
    // (not the run's labels: a reaper that saw a container of no live run would remove it early).
    Labels: { 'ephemera.managed': 'true', 'ephemera.deadline': String(Date.now() + 60_000) },
    NetworkDisabled: true,
    HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'none', Config: {} } },
  });
  try {
    const limits = (await probe.inspect()).HostConfig.Ulimits ?? [];
    const nproc = limits.find((u) => /^(RLIMIT_)?NPROC$/i.test(u.Name ?? ''))?.Hard;
    // None (rootless Podman sets none): Podman then keeps within the user's own limit by itself.
    return nproc !== undefined && nproc > 0 ? nproc : undefined;
  } finally {
    await probe.remove({ force: true, v: true }).catch(() => {});
  }
}

/**
 * Docker's create options as Podman takes them (and one refused: a runtime, see below):
 * - a tmpfs mount's owner: Podman 4 refuses `uid=`/`gid=` and has `U` instead, "owned by the
 *   container's user", which is what every such mount of ours means;
 * - IPv6 turned off inside the container (noIpv6);
 * - nproc: given any ulimit, Podman takes its built-in nproc (1048576) instead of its configured
 *   one, above what most hosts allow, and every start fails ("error setting rlimit type 6");
 *   Docker leaves nproc alone. So the configured one is given (`-1` is not read as "the host's"
 *   through this API). The pids cgroup (PidsLimit) is what bounds a container's processes.
 */
export function forPodman(
  options: Docker.ContainerCreateOptions,
  nproc: number | undefined,
): Docker.ContainerCreateOptions {
  const host = options.HostConfig ?? {};
  // Podman's compatible API drops HostConfig.Runtime without a word: the container would run
  // under runc. A gVisor profile must not run weaker than it says (the start-up check refuses
  // it too: Podman lists no ephemera-runsc).
  if (host.Runtime)
    throw new Error(`runtime ${host.Runtime}: Podman's API would run it under runc; gVisor profiles need Docker`);
  const ulimits = host.Ulimits ?? [];
  const withNproc =
    nproc === undefined || ulimits.some((u) => u.Name === 'nproc')
      ? ulimits
      : [...ulimits, { Name: 'nproc', Soft: nproc, Hard: nproc }];
  const [uid = '', gid = uid] = (options.User ?? '').split(':');
  const tmpfs = host.Tmpfs && {
    Tmpfs: Object.fromEntries(
      Object.entries(host.Tmpfs).map(([path, opts]) => [path, podmanTmpfsOptions(path, opts, uid, gid)]),
    ),
  };
  return { ...options, HostConfig: { ...host, Ulimits: withNproc, ...tmpfs, ...noIpv6(host) } };
}

/**
 * IPv6 off inside the container, as Docker turns it off on a network without IPv6: netavark
 * leaves each eth0 a link-local address, which the IPv4 rules of the locked network do not see
 * (a container reached a host listener on :: that way). Only on a network of its own.
 */
function noIpv6(host: Docker.HostConfig): { Sysctls?: Record<string, string> } {
  // Not on `none`: only lo there, nothing to reach.
  if (host.NetworkMode === 'host' || host.NetworkMode === 'none') return {};
  return { Sysctls: { ...host.Sysctls, 'net.ipv6.conf.all.disable_ipv6': '1' } };
}

function podmanTmpfsOptions(path: string, options: string, uid: string, gid: string): string {
  const kept: string[] = [];
  let owner: { uid?: string; gid?: string } | undefined;
  for (const option of options.split(',')) {
    const [key, value] = option.trim().split('=');
    if (key === 'uid' || key === 'gid') owner = { ...owner, [key]: value };
    else kept.push(option);
  }
  if (!owner) return options;
  // `U` can only say "the container's user": an owner other than that has no Podman words.
  if ((owner.uid ?? uid) !== uid || (owner.gid ?? gid) !== gid) {
    throw new Error(
      `tmpfs ${path}: Podman can give a tmpfs only to the container's user (${uid}:${gid}), not ${options}`,
    );
  }
  return [...kept, 'U'].join(',');
}
