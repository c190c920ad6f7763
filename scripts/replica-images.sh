#!/bin/sh
# The two images docker-compose.replicas.yml runs besides the service: PostgreSQL and nginx.
# The public ones (postgres:15-bookworm, nginx:1.22) when they are here or can be pulled;
# on a machine with no registry, images made from this machine's Debian packages of the same
# programs (scripts/ensure-postgres.sh and scripts/ensure-nginx.sh install them), which take
# what the compose file gives the public ones:
#   postgres: POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, PGDATA, PGPORT; the command
#             `postgres -c ...`; the database made on the first start of an empty PGDATA.
#   nginx:    `nginx -g 'daemon off;'` reading /etc/nginx/nginx.conf.
# Prints the images to use, as lines for a compose .env file (or `eval`):
#   EPHEMERA_POSTGRES_IMAGE=...
#   EPHEMERA_NGINX_IMAGE=...
set -eu
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."
say() { printf '[replica-images] %s\n' "$*" >&2; }
die() { printf '[replica-images] ERROR: %s\n' "$*" >&2; exit 1; }
export DOCKER_BUILDKIT=0
. scripts/rootfs.sh

PG_PUBLIC=postgres:15-bookworm PG_LOCAL=ephemera-base/postgres:local
NGINX_PUBLIC=nginx:1.22 NGINX_LOCAL=ephemera-base/nginx:local
PG=/usr/lib/postgresql/15

pullable() { have_image "$1" || timeout 30 docker pull -q "$1" >/dev/null 2>&1; }
# A local image is made again when this script changed since (its recipe is here).
RECIPE=$(sha256sum "$self" | cut -c1-16)
[ -n "$RECIPE" ] || die "cannot read $self"
current() { have_image "$1" && [ "$(docker image inspect -f '{{index .Config.Labels "ephemera.recipe"}}' "$1")" = "$RECIPE" ]; }
tmp=
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

# The first start of an empty PGDATA makes the cluster, its user and its database, as the
# public image's entrypoint does; then postgres runs as uid 999, PID 1 (signals reach it).
pg_entrypoint() {
  cat <<'EOF'
#!/bin/sh
set -eu
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  [ -z "${POSTGRES_PASSWORD:-}" ] || { echo "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, not both" >&2; exit 1; }
  POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
[ -n "${POSTGRES_PASSWORD:-}" ] || { echo "set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD)" >&2; exit 1; }
mkdir -p "$PGDATA" /var/run/postgresql
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"; chown postgres "$pwfile"; export pwfile
  # Values go through the environment, not into the command's text.
  su -s /bin/sh postgres -c 'initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8' >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    db=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g') user=$(printf '%s' "$POSTGRES_USER" | sed 's/"/""/g')
    printf 'create database "%s" owner "%s";\n' "$db" "$user" | su -s /bin/sh postgres -c 'postgres --single -D "$PGDATA" -c jit=off postgres' >/dev/null
  fi
fi
unset POSTGRES_PASSWORD # not in the server's environment
# After --, su takes no option of the command's (its -c ... would be su's own).
exec su -s /bin/sh -c 'exec "$0" "$@" -c jit=off' -- postgres "$@"
EOF
}

make_postgres() {
  if current "$PG_LOCAL"; then say "$PG_LOCAL present"; return; fi
  [ -x "$PG/bin/postgres" ] || sh scripts/ensure-postgres.sh >&2
  say "making $PG_LOCAL from this machine's PostgreSQL 15"
  tmp=$(mktemp -d); root=$tmp/root; busybox_rootfs "$root"
  # The server, initdb and their modules (no JIT: it would need LLVM), and its share folder.
  libs=$(find "$PG/lib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*')
  # shellcheck disable=SC2086
  copy_with_libs "$root" "$PG/bin/postgres" "$PG/bin/initdb" "$PG/bin/pg_ctl" "$PG/bin/pg_isready" $libs
  mkdir -p "$root/usr/share/postgresql" "$root/usr/share/zoneinfo" "$root/usr/local/bin"
  cp -r /usr/share/postgresql/15 "$root/usr/share/postgresql/15"
  cp -r /usr/share/zoneinfo/. "$root/usr/share/zoneinfo/"
  # The C.UTF-8 locale the cluster is made with (Debian's libc-bin ships it compiled).
  [ -d /usr/lib/locale/C.utf8 ] || die "no C.UTF-8 locale in /usr/lib/locale"
  mkdir -p "$root/usr/lib/locale"; cp -r /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
  for b in postgres initdb pg_ctl pg_isready; do ln -s "$PG/bin/$b" "$root/usr/local/bin/$b"; done
  printf 'postgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh\n' >>"$root/etc/passwd"
  mkdir -p "$root/var/lib/postgresql"; chown 999:999 "$root/var/lib/postgresql"
  printf 'postgres:x:999:\n' >>"$root/etc/group"
  mkdir -p "$root/var/lib/postgresql/data"
  pg_entrypoint >"$root/usr/local/bin/docker-entrypoint.sh"; chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  import_rootfs "$root" "$PG_LOCAL" \
    -c 'ENV PGDATA=/var/lib/postgresql/data' -c 'ENV LANG=C.UTF-8' \
    -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' -c 'CMD ["postgres"]' -c "LABEL ephemera.recipe=$RECIPE"
  rm -rf "$tmp"; tmp=
}

make_nginx() {
  if current "$NGINX_LOCAL"; then say "$NGINX_LOCAL present"; return; fi
  [ -x /usr/sbin/nginx ] || sh scripts/ensure-nginx.sh >&2
  say "making $NGINX_LOCAL from this machine's nginx"
  tmp=$(mktemp -d); root=$tmp/root; busybox_rootfs "$root"
  copy_with_libs "$root" /usr/sbin/nginx
  mkdir -p "$root/usr/local/bin"; ln -s /usr/sbin/nginx "$root/usr/local/bin/nginx"   # on PATH, as in the public image
  printf 'nogroup:x:65534:\n' >>"$root/etc/group"   # nobody's group on Debian, as in the public image
  # Where Debian's build keeps its logs and temporary files; the configuration is mounted.
  mkdir -p "$root/etc/nginx" "$root/var/log/nginx" "$root/var/lib/nginx" "$root/run"
  import_rootfs "$root" "$NGINX_LOCAL" -c 'CMD ["nginx", "-g", "daemon off;"]' -c "LABEL ephemera.recipe=$RECIPE"
  rm -rf "$tmp"; tmp=
}

if pullable "$PG_PUBLIC"; then pg_image=$PG_PUBLIC; else make_postgres; pg_image=$PG_LOCAL; fi
if pullable "$NGINX_PUBLIC"; then nginx_image=$NGINX_PUBLIC; else make_nginx; nginx_image=$NGINX_LOCAL; fi
echo "EPHEMERA_POSTGRES_IMAGE=$pg_image"
echo "EPHEMERA_NGINX_IMAGE=$nginx_image"
