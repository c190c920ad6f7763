// Makes Podman's locked network through its own API (the CLI of Debian's 4.3 cannot name the
// bridge): internal, no DNS, bridge BRIDGE, a gateway address on the host (for the model gateway).
//   node scripts/podman-network.mjs SOCKET NAME BRIDGE   prints "present|created|recreated GATEWAY PREFIX"
// Podman picks a free subnet only for a network without a gateway; so a probe network is made
// first for its subnet, then removed, and the network made on that subnet with its .1 the gateway.
import { request } from 'node:http';

const [socketPath, name, bridge] = process.argv.slice(2);

function api(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path: `/v4.0.0/libpod${path}`, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, json: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const fail = (why) => {
  process.stderr.write(`[egress] ERROR: ${why}\n`);
  process.exit(1);
};
const gatewayOf = (n) => n.subnets?.find((s) => s.gateway)?.gateway;
const prefixOf = (n) => n.subnets?.find((s) => s.gateway)?.subnet.split('/')[1];
const locked = (n) =>
  n.internal === true &&
  n.dns_enabled === false &&
  n.ipv6_enabled !== true &&
  n.network_interface === bridge &&
  gatewayOf(n);

const found = await api('GET', `/networks/${name}/json`);
if (found.status === 200 && locked(found.json)) {
  console.log(`present ${gatewayOf(found.json)} ${prefixOf(found.json)}`);
  process.exit(0);
}
if (found.status === 200) {
  const removed = await api('DELETE', `/networks/${name}`);
  if (removed.status !== 200)
    fail(`network ${name} is not locked down and cannot be removed (in use?): ${JSON.stringify(removed.json)}`);
}
const probe = `${name}-subnet-probe`;
await api('DELETE', `/networks/${probe}`); // one a crash left behind (404 when none)
const made = await api('POST', '/networks/create', {
  name: probe,
  driver: 'bridge',
  internal: true,
  dns_enabled: false,
});
if (made.status !== 200) fail(`cannot make a network: ${JSON.stringify(made.json)}`);
const dropped = await api('DELETE', `/networks/${probe}`);
if (dropped.status !== 200) fail(`cannot remove network ${probe}: ${JSON.stringify(dropped.json)}`);
const subnet = made.json.subnets[0].subnet; // e.g. 10.89.0.0/24
const gateway = subnet.replace(/\.0\/\d+$/, '.1');
const created = await api('POST', '/networks/create', {
  name,
  driver: 'bridge',
  network_interface: bridge,
  internal: true,
  dns_enabled: false,
  subnets: [{ subnet, gateway }],
});
if (created.status !== 200) fail(`cannot make network ${name}: ${JSON.stringify(created.json)}`);
console.log(`${found.status === 200 ? 'recreated' : 'created'} ${gateway} ${subnet.split('/')[1]}`);
