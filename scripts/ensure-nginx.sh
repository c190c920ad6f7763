#!/bin/sh
# Makes sure nginx is installed, for the suite's test of replicas behind a load balancer
# (test/replicas.test.ts runs its own nginx, with its own configuration, on a loopback port).
# As root on Debian, installs Debian's nginx when missing. The service needs none of this.
set -eu
say() { printf '[nginx] %s\n' "$*"; }
die() { printf '[nginx] ERROR: %s\n' "$*" >&2; exit 1; }

if [ ! -x /usr/sbin/nginx ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || die "no nginx: install it (Debian: apt-get install nginx)"
  say "installing Debian's nginx package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nginx >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq nginx >/dev/null; }
fi
say "$(/usr/sbin/nginx -v 2>&1)"
