#!/bin/sh
# Makes sure Podman's Docker-compatible API answers at $PODMAN_SOCKET (ENGINE=podman npm run setup);
# safe to run again. As root on Debian: installs podman (4.3), catatonit (the init Podman runs
# as a container's pid 1: the service asks for one) and netavark (the network backend; Debian's
# podman alone falls back to CNI) and iptables (the locked network's rules: netavark does not
# bring it, where docker.io does); writes Podman's settings for Ephemera; starts
# `podman system service` in the background, as the Docker engine is started (no systemd needed).
set -eu
say() { printf '[podman] %s\n' "$*"; }
die() { printf '[podman] ERROR: %s\n' "$*" >&2; exit 1; }

SOCKET=${PODMAN_SOCKET:-/run/podman/podman.sock}
CONF=/etc/containers/containers.conf.d/ephemera.conf
api_up() { command -v podman >/dev/null 2>&1 && podman --remote --url "unix://$SOCKET" version >/dev/null 2>&1; }
version() { podman --remote --url "unix://$SOCKET" version --format '{{.Server.Version}}'; }

if api_up; then
  say "API answering at $SOCKET: Podman $(version)"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "Podman's API does not answer at $SOCKET, and setting it up needs root (rootless: see docs/operations.md)."

missing=''
for pkg in podman catatonit netavark iptables; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install$missing, then run this again."
  say "installing Debian's$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null
fi

# Podman's own defaults ask for more open files and processes than many hosts allow, and every
# container then fails to start ("error setting rlimit"): give them within this host's hard
# limits. netavark, named: a host that ever used CNI would otherwise stay on it.
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
# Processes, from the kernel's own table (ulimit's letter for it differs between dash and bash).
nproc=$(awk '/^Max processes/ { print $4 }' /proc/self/limits); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
want=$(printf '# Written by Ephemera (scripts/ensure-podman.sh); safe to change.\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n\n[network]\nnetwork_backend = "netavark"\n' \
  "$nofile" "$nofile" "$nproc" "$nproc")
if [ ! -f "$CONF" ]; then
  mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$want" >"$CONF"
  say "wrote $CONF: nofile $nofile, nproc $nproc a container; network backend netavark"
else
  say "$CONF present (kept as it is)"
fi
backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || true)
[ "$backend" = netavark ] || say "WARNING: Podman's network backend is \"$backend\", not netavark: the egress lock is set up for netavark (podman system reset switches, and deletes every container and image)"

log=/var/log/ephemera-podman.log
say "starting podman system service at $SOCKET (log: $log)"
mkdir -p "$(dirname "$SOCKET")"
rm -f "$SOCKET" # a socket file left by a killed service refuses the new one's bind
# From /: conmon runs in the service's working directory, and every container fails to start
# ("Failed to get working directory") once that folder is gone (a CI clone removed, say).
(cd / && nohup podman system service --time=0 "unix://$SOCKET" >"$log" 2>&1 </dev/null &)
i=0
until api_up; do
  i=$((i + 1))
  [ "$i" -le 60 ] || die "podman system service did not answer within 30 s; see $log"
  sleep 0.5
done
say "API answering at $SOCKET: Podman $(version)"
