import type Docker from 'dockerode';
import type { ProfileSet } from '../config/profiles.js';
import { callsModel } from '../runner/agents/registry.js';

/**
 * Where the model gateway listens when MODEL_GATEWAY_HOST does not say: the host's address
 * on the network the model agents' profiles use (a bridge's gateway), which their
 * containers reach and other machines do not. Undefined when no profile needs a model.
 */
export async function gatewayListenAddress(docker: Docker, profiles: ProfileSet): Promise<string | undefined> {
  const networks = new Set([...profiles.profiles.values()].filter((p) => callsModel(p.kind)).map((p) => p.network));
  if (networks.size === 0) return undefined;
  if (networks.size > 1)
    throw new Error(`model agents use several networks (${[...networks].join(', ')}): set MODEL_GATEWAY_HOST`);
  const [name] = networks as unknown as [string];
  const info = (await docker.getNetwork(name).inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string }> } };
  const address = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
  if (!address) throw new Error(`network ${name} has no gateway address: set MODEL_GATEWAY_HOST`);
  return address;
}
