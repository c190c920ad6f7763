// What the benches read of standby: hits from /metrics, the waiting containers, their memory.
import type Docker from 'dockerode';
import { r2 } from './figures.js';

/** ephemera_standby_hits_total by agent, from the service's /metrics. */
export async function standbyHits(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const hits: Record<string, number> = {};
  for (const m of text.matchAll(/^ephemera_standby_hits_total\{agent="([^"]+)"\} (\d+)$/gm)) hits[m[1]!] = Number(m[2]);
  return hits;
}

export async function waitingContainers(docker: Docker, agent: string): Promise<string[]> {
  const list = await docker.listContainers({
    filters: { label: ['ephemera.standby=true', `ephemera.agent=${agent}`], status: ['running'] },
  });
  return list.map((c) => c.Id);
}

/** What each waiting container holds, by the engine's own count (its cgroup; gVisor's kernel included). */
export async function idleMemoryMb(docker: Docker, ids: string[]): Promise<number[]> {
  return Promise.all(
    ids.map(async (id) =>
      r2(((await docker.getContainer(id).stats({ stream: false })).memory_stats.usage ?? 0) / 2 ** 20),
    ),
  );
}
