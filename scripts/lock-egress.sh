#!/bin/sh
# Makes the network model agents run on (ephemera-egress, bridge ephemera0) reach nothing but
# the service's model gateway; safe to run again. See docs/agents.md, "Egress".
#   - internal: no route out of the machine;
#   - enable_icc=false: its containers cannot talk to each other;
#   - INPUT from the bridge goes to chain EPHEMERA-EGRESS, which accepts only the gateway's
#     port (MODEL_GATEWAY_PORT, 8788) and drops the rest: the host's own listeners on 0.0.0.0
#     (this service's API too) are out of reach. Replicas on one host each run a gateway on a
#     port of its own: MODEL_GATEWAY_PORTS="8788 8790" opens those. Needs root and iptables.
set -eu
say() { printf '[egress] %s\n' "$*"; }
die() { printf '[egress] ERROR: %s\n' "$*" >&2; exit 1; }

NETWORK=ephemera-egress
BRIDGE=ephemera0
CHAIN=EPHEMERA-EGRESS
if [ "${ENGINE:-docker}" = podman ]; then BRIDGE=ephemera1 CHAIN=EPHEMERA-EGRESS-PODMAN; fi
# The same variable the service reads: it wants exactly these open. Once each, in order.
PORTS=$(printf '%s' "${MODEL_GATEWAY_PORTS:-${MODEL_GATEWAY_PORT:-8788}}" | tr ', ' '\n\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
[ -n "$PORTS" ] || die "MODEL_GATEWAY_PORTS names no port"
for p in $PORTS; do
  case $p in [1-9]*) ;; *) die "MODEL_GATEWAY_PORTS: \"$p\" is not a port from 1024 to 65535" ;; esac
  case $p in *[!0-9]*) die "MODEL_GATEWAY_PORTS: \"$p\" is not a port from 1024 to 65535" ;; esac
  [ "$p" -ge 1024 ] && [ "$p" -le 65535 ] || die "MODEL_GATEWAY_PORTS: \"$p\" is not a port from 1024 to 65535"
done
PORTS=${PORTS% }

if [ "${ENGINE:-docker}" = podman ]; then
  # Podman (netavark): its own network, bridge and chain, so that both engines can serve one host.
  . scripts/egress-podman.sh
else
  locked_network() {
    [ "$(docker network inspect "$NETWORK" -f '{{.Internal}} {{index .Options "com.docker.network.bridge.enable_icc"}}' 2>/dev/null)" = "true false" ]
  }
  if docker network inspect "$NETWORK" >/dev/null 2>&1 && ! locked_network; then
    in_use=$(docker network inspect "$NETWORK" -f '{{len .Containers}}')
    [ "$in_use" = 0 ] || die "network $NETWORK is not locked down and $in_use container(s) use it: stop them, then run this again"
    say "recreating network $NETWORK locked down (it had a route out or let containers talk)"
    docker network rm "$NETWORK" >/dev/null
  fi
  if docker network inspect "$NETWORK" >/dev/null 2>&1; then
    say "network $NETWORK present, internal, containers isolated"
  else
    say "creating network $NETWORK: internal, containers isolated (bridge $BRIDGE)"
    docker network create --driver bridge --internal \
      -o com.docker.network.bridge.name=$BRIDGE -o com.docker.network.bridge.enable_icc=false "$NETWORK" >/dev/null
  fi
  gateway_address() { docker network inspect "$NETWORK" -f '{{(index .IPAM.Config 0).Gateway}}'; }
fi

if [ "$(id -u)" != 0 ] || ! command -v iptables >/dev/null 2>&1; then
  say "WARNING: not root or no iptables: the host's own ports stay reachable from $NETWORK;"
  say "         the service refuses to run agents on it until this runs as root (or a profile says \"open_egress\")"
  exit 0
fi
GATEWAY=$(gateway_address)
want=$(printf -- '-N %s' "$CHAIN"
  for p in $PORTS; do printf -- '\n-A %s -d %s/32 -p tcp -m tcp --dport %s -j ACCEPT' "$CHAIN" "$GATEWAY" "$p"; done
  printf -- '\n-A %s -j DROP' "$CHAIN")
if [ "$(iptables -S "$CHAIN" 2>/dev/null)" != "$want" ]; then
  # Drop first, then open the ports above it: the chain is never open while it is rebuilt.
  iptables -N "$CHAIN" 2>/dev/null || true
  iptables -I "$CHAIN" 1 -j DROP
  while [ "$(iptables -S "$CHAIN" | wc -l)" -gt 2 ]; do iptables -D "$CHAIN" 2; done
  n=1
  for p in $PORTS; do iptables -I "$CHAIN" "$n" -d "$GATEWAY" -p tcp --dport "$p" -j ACCEPT; n=$((n + 1)); done
fi
# The jump goes among the first rules of INPUT, which are all such jumps (the service checks
# that), whatever was added since: one engine's bridge and the other's each have one. Put in
# first, then other copies taken out: the bridge's traffic is never without it.
jump="-A INPUT -i $BRIDGE -j $CHAIN"
leading_jumps() { iptables -S INPUT | sed 1d | awk '!/^-A INPUT -i [^ ]+ -j EPHEMERA-EGRESS(-PODMAN)?$/ { exit } { print }'; }
if [ "$(leading_jumps | grep -F -- "-A INPUT -i $BRIDGE -j " | head -1)" != "$jump" ]; then iptables -I INPUT 1 -i "$BRIDGE" -j "$CHAIN"; fi
while [ "$(iptables -S INPUT | grep -cxF -- "$jump")" -gt 1 ]; do
  n=$(iptables -S INPUT | sed 1d | grep -nxF -- "$jump" | sed -n 2p | cut -d: -f1)
  iptables -D INPUT "$n"
done
[ "${ENGINE:-docker}" != podman ] || lock_forwarding
say "INPUT from $BRIDGE: only tcp $GATEWAY, port(s) $PORTS (the model gateway), the rest dropped"
