#!/bin/sh
# gVisor for profiles with "runtime": "runsc". As root on Debian: installs Debian's runsc package,
# registers it with the Docker engine (scripts/register-runsc.mjs merges /etc/docker/daemon.json,
# keeping every other key) and reloads the engine's settings by SIGHUP: no restart, running
# containers untouched. Safe to run again. Not root, or another engine (DOCKER_HOST): says what is
# missing and goes on; the service then answers 503 AGENT_UNAVAILABLE for such profiles alone.
set -eu
cd "$(dirname "$0")/.."
say() { printf '[runsc] %s\n' "$*"; }

daemon_json=/etc/docker/daemon.json
registered() {
  rts=$(docker info --format '{{json .Runtimes}}' 2>/dev/null) || return 1
  for name in ephemera-runsc ephemera-runsc-net; do
    case "$rts" in *"\"$name\""*) ;; *) return 1 ;; esac
  done
}

if registered; then
  say "gVisor registered with the engine: ephemera-runsc, ephemera-runsc-net ($(runsc --version 2>/dev/null | head -1 || echo 'runsc on the engine host'))"
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ] || [ "$(id -u)" != 0 ]; then
  say "gVisor is not registered with the engine, and this is not root on the engine's host: profiles with \"runtime\": \"runsc\" will be refused. To add it: install runsc and run this as root there."
  exit 0
fi
if ! command -v runsc >/dev/null 2>&1; then
  say "installing Debian's runsc package (gVisor)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq runsc >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq runsc >/dev/null; }
fi
say "runsc: $(runsc --version | head -1)"
case $(node scripts/register-runsc.mjs "$daemon_json" "$(command -v runsc)") in
  changed) say "added ephemera-runsc and ephemera-runsc-net to $daemon_json (other keys kept)" ;;
  *) say "$daemon_json already names them" ;;
esac
pid=$(pidof dockerd 2>/dev/null | cut -d' ' -f1 || true)
[ -n "$pid" ] || { say "no dockerd process here to reload: it reads $daemon_json when it starts"; exit 0; }
say "reloading the engine's settings (SIGHUP to dockerd $pid; running containers untouched)"
kill -HUP "$pid"
i=0
until registered; do
  i=$((i + 1))
  [ "$i" -le 40 ] || { say "the engine did not list the runtimes after its reload: see /var/log/ephemera-dockerd.log"; exit 1; }
  sleep 0.25
done
say "gVisor registered with the engine"
