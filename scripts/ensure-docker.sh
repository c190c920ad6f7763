#!/bin/sh
# Makes sure a Docker engine answers. Uses a running one (or DOCKER_HOST); otherwise,
# as root on Debian, installs the docker.io package and starts dockerd in the background.
set -eu
say() { printf '[docker] %s\n' "$*"; }
die() { printf '[docker] ERROR: %s\n' "$*" >&2; exit 1; }

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
  say "engine running: $(docker version --format '{{.Server.Version}}')"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer. Start that engine, or unset DOCKER_HOST to use a local one."
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "no Docker engine is running and dockerd is not installed; as root on Debian this script installs docker.io; otherwise install Docker Engine and start it."
  command -v apt-get >/dev/null 2>&1 || die "no Docker engine and no apt-get: install Docker Engine (dockerd) and start it."
  say "installing Debian's docker.io package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
fi

if ! engine_up; then
  [ "$(id -u)" = 0 ] || die "dockerd is installed but not running, and starting it needs root."
  log=/var/log/ephemera-dockerd.log
  say "starting dockerd in the background (log: $log)"
  # A stale pid file from a killed engine stops a new one from starting.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  nohup dockerd >"$log" 2>&1 </dev/null &
  i=0
  until engine_up; do
    i=$((i + 1))
    [ "$i" -le 60 ] || die "dockerd did not answer within 30 s; see $log"
    sleep 0.5
  done
fi
say "engine running: $(docker version --format '{{.Server.Version}}')"
