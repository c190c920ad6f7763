# Podman's part of scripts/lock-egress.sh (sourced; NETWORK, BRIDGE, say and die come from it).
# netavark (Debian's podman 4.3) differs from Docker's engine in three ways that matter here:
#   - it has no enable_icc: containers on one network reach each other unless the host drops
#     it. lock_forwarding drops everything the host would forward from the bridge (mangle
#     FORWARD, which no engine writes to), with bridged traffic sent through iptables
#     (br_netfilter, bridge-nf-call-iptables=1);
#   - it deletes the bridge with its last container, and the gateway's address with it: the
#     model gateway could not listen while no agent runs. A veth end kept on the bridge
#     ($BRIDGE-k, its peer unused and down) keeps it, as Docker keeps its bridges;
#   - its network is made through its API (podman-network.mjs), which can name the bridge.
SOCKET=${PODMAN_SOCKET:-/run/podman/podman.sock}
made=$(node scripts/podman-network.mjs "$SOCKET" "$NETWORK" "$BRIDGE") || die "could not make Podman network $NETWORK"
set -- $made
PODMAN_GATEWAY=$2 PODMAN_PREFIX=$3
case $made in
  present*) say "network $NETWORK present, internal, no DNS (bridge $BRIDGE)" ;;
  *) say "${made%% *} network $NETWORK: internal, no DNS (bridge $BRIDGE, gateway $PODMAN_GATEWAY)" ;;
esac
gateway_address() { printf '%s\n' "$PODMAN_GATEWAY"; }

keep_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then ip link add "$BRIDGE" type bridge; fi
  ip -4 addr show dev "$BRIDGE" | grep -qF " $PODMAN_GATEWAY/" || ip addr add "$PODMAN_GATEWAY/$PODMAN_PREFIX" dev "$BRIDGE"
  if ! ip link show "$BRIDGE-k" >/dev/null 2>&1; then ip link add "$BRIDGE-k" type veth peer name "$BRIDGE-p"; fi
  ip link set "$BRIDGE-k" master "$BRIDGE"
  ip link set "$BRIDGE-k" up
  ip link set "$BRIDGE" up
  # No IPv6 on the bridge: the INPUT rules are IPv4's, and a container (whose eth0 netavark leaves
  # with a link-local address) reached a host listener on :: through the bridge's fe80 address.
  # The service also turns IPv6 off inside each container (engine-dialect.ts), as Docker does.
  if [ -e "/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6" ]; then echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6"; fi
  # What netavark sets on an internal network's bridge when it makes it (here it finds it made).
  echo 0 >"/proc/sys/net/ipv4/conf/$BRIDGE/forwarding"
  say "bridge $BRIDGE kept up with gateway $PODMAN_GATEWAY (port $BRIDGE-k), no IPv6, no forwarding"
}

lock_forwarding() {
  modprobe br_netfilter 2>/dev/null || true
  [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "bridged traffic cannot be filtered (no br_netfilter): $NETWORK's containers could reach each other"
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  rule="-A FORWARD -i $BRIDGE -j DROP"
  if [ "$(iptables -t mangle -S FORWARD | sed -n 2p)" != "$rule" ]; then iptables -t mangle -I FORWARD 1 -i "$BRIDGE" -j DROP; fi
  while [ "$(iptables -t mangle -S FORWARD | grep -cxF -- "$rule")" -gt 1 ]; do
    n=$(iptables -t mangle -S FORWARD | sed 1d | grep -nxF -- "$rule" | sed -n 2p | cut -d: -f1)
    iptables -t mangle -D FORWARD "$n"
  done
  say "nothing forwarded from $BRIDGE: not out, not to another container (mangle FORWARD, bridge-nf-call-iptables=1)"
}

if [ "$(id -u)" = 0 ]; then keep_bridge; fi
