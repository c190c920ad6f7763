#!/bin/sh
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432, for the suite's tests of the Postgres
# store (DATABASE_URL): as root on Debian, installs Debian's postgresql if missing, starts its
# cluster, and creates the role the tests use (ephemera_test, which creates a database per test
# file and drops it after, ending whatever is still connected to it). Idempotent, as ensure-docker.sh is. The service itself needs none of
# this: SQLite is its default store.
set -eu
say() { printf '[postgres] %s\n' "$*"; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || die "no PostgreSQL server: install PostgreSQL (Debian: apt-get install postgresql)"
  say "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq postgresql >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null; }
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_lsclusters -h | grep -q "^$version main " || pg_createcluster "$version" main >/dev/null
pg_lsclusters -h | grep -q "^$version main .* online" || pg_ctlcluster "$version" main start
for i in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  [ "$i" = 30 ] && die "PostgreSQL $version does not answer on 127.0.0.1:5432"
  sleep 1
done
role=$(su postgres -c "psql -p 5432 -tAc \"select 1 from pg_roles where rolname = 'ephemera_test'\"")
[ "$role" = 1 ] || su postgres -c "psql -p 5432 -qc \"create role ephemera_test login createdb password 'ephemera_test'\""
# A test's `drop database … with (force)` must end an autovacuum worker that is busy in that
# database; a worker belongs to no role, so only pg_signal_backend may end it (without it, the
# drop fails now and then: CI did). Granting twice is harmless.
su postgres -c "psql -p 5432 -qc 'grant pg_signal_backend to ephemera_test'" 2>/dev/null
say "PostgreSQL $version on 127.0.0.1:5432, role ephemera_test"
