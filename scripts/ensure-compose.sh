#!/bin/sh
# Makes sure a Compose answers (docker-compose.yml): the engine's `docker compose` plugin, or
# `docker-compose`; otherwise, as root on Debian, installs Debian's docker-compose (1.29).
set -eu
say() { printf '[compose] %s\n' "$*"; }
die() { printf '[compose] ERROR: %s\n' "$*" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then say "docker compose: $(docker compose version --short 2>/dev/null)"; exit 0; fi
if command -v docker-compose >/dev/null 2>&1; then say "docker-compose: $(docker-compose version --short 2>/dev/null)"; exit 0; fi
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || die "no Compose: install the docker compose plugin or docker-compose"
say "installing Debian's docker-compose package"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq docker-compose >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq docker-compose >/dev/null; }
say "docker-compose: $(docker-compose version --short 2>/dev/null)"
