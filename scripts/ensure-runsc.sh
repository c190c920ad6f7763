#!/bin/sh
# gVisor for profiles with "runtime": "runsc". As root on Debian: installs Debian's runsc package,
# registers it with the local Docker engine (scripts/register-runsc.mjs adds two runtimes to
# /etc/docker/daemon.json, keeping every other key) and reloads the engine's settings by SIGHUP:
# no restart, running containers untouched. Safe to run again. Where it cannot (not root, another
# engine, a dockerd started with its own settings file or runtimes), it says what is missing and
# changes nothing; the service then answers 503 AGENT_UNAVAILABLE for such profiles alone.
set -eu
cd "$(dirname "$0")/.."
say() { printf '[runsc] %s\n' "$*"; }
skip() { say "$* Profiles with \"runtime\": \"runsc\" will be refused until it is."; exit 0; }

daemon_json=/etc/docker/daemon.json
registered() {
  rts=$(docker info --format '{{json .Runtimes}}' 2>/dev/null) || return 1
  for name in ephemera-runsc ephemera-runsc-net; do
    case "$rts" in *"\"$name\""*) ;; *) return 1 ;; esac
  done
}

if registered; then
  say "gVisor registered with the engine: ephemera-runsc, ephemera-runsc-net"
  exit 0
fi
[ -z "${DOCKER_HOST:-}" ] || skip "gVisor is not registered with the engine at DOCKER_HOST=$DOCKER_HOST: register it there."
[ "$(id -u)" = 0 ] || skip "gVisor is not registered with the engine, and registering it needs root."
# The engine's own pid file names the dockerd that serves the default socket.
pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd 2>/dev/null | cut -d' ' -f1 || true)
if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq -- '--config-file|--add-runtime'; then
  skip "dockerd (pid $pid) was started with its own --config-file or --add-runtime: add the runtimes of scripts/register-runsc.mjs there by hand."
fi
if ! command -v runsc >/dev/null 2>&1; then
  say "installing Debian's runsc package (gVisor)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq runsc >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq runsc >/dev/null; } \
    || skip "runsc could not be installed (apt-get failed)."
fi
say "runsc: $(runsc --version | head -1)"
out=$(node scripts/register-runsc.mjs "$daemon_json" "$(command -v runsc)") || skip "$daemon_json was left as it is (see above)."
case $out in
  changed) say "added ephemera-runsc and ephemera-runsc-net to $daemon_json (other keys kept)" ;;
  *) say "$daemon_json already names them" ;;
esac
[ -n "$pid" ] || skip "no dockerd process here to reload (it reads $daemon_json when it starts)."
say "reloading the engine's settings (SIGHUP to dockerd $pid; running containers untouched)"
kill -HUP "$pid"
i=0
until registered; do
  i=$((i + 1))
  [ "$i" -le 40 ] || skip "the engine did not list the runtimes after its reload: see its log (/var/log/ephemera-dockerd.log when set-up started it, else journalctl -u docker)."
  sleep 0.25
done
say "gVisor registered with the engine"
