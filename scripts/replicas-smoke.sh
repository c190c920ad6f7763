#!/bin/sh
# The fourth stage of scripts/image-smoke.sh, on its own: docker-compose.replicas.yml with the
# service image given ($1, default ephemera/service:smoke), two replicas on one Postgres behind
# nginx, checked through the balancer. Needs root (the egress chain), the engine, psql.
set -eu
cd "$(dirname "$0")/.."
say() { printf '[replicas-smoke] %s\n' "$*"; }
die() { printf '[replicas-smoke] ERROR: %s\n' "$*" >&2; exit 1; }
export DOCKER_BUILDKIT=0
tag=${1:-ephemera/service:smoke}
sock=${DOCKER_SOCK:-/var/run/docker.sock}
http() { node scripts/http.mjs "$@"; }
compose() { if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi; }
# Waits until $1 answers /readyz.
wait_ready() {
  i=0
  until http "$1/readyz" >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -le 90 ] || { replicas_logs; die "$1 never became ready"; }
    sleep 0.5
  done
}
# The model is the fake Gemini API on the host's loopback, which only the replicas reach.
fake_port=${SMOKE_FAKE_PORT:-18790}
node --import tsx test/fake-gemini/server.ts "$fake_port" 127.0.0.1 >/dev/null 2>&1 &
fake_pid=$!
export EPHEMERA_IMAGE="$tag" DOCKER_GID="$(stat -c %g "$sock")" GEMINI_UPSTREAM_URL="http://127.0.0.1:$fake_port"

# Postgres and nginx are the public images when they can be pulled, else made from this
# machine's Debian packages (scripts/replica-images.sh). Each replica's model gateway has its
# own port, both opened in the egress chain for this stage and closed again after it.
eval "$(sh scripts/replica-images.sh)"
export EPHEMERA_POSTGRES_IMAGE EPHEMERA_NGINX_IMAGE
rproject=ephemera-smoke-replicas-$$
rkeys=$(mktemp -d)
printf smoke-key >"$rkeys/gemini_api_key"
pg_password=$(head -c 18 /dev/urandom | base64)
printf '%s\n' "$pg_password" >"$rkeys/postgres_password"
chown -R 1000 "$rkeys" && chmod 700 "$rkeys" && chmod 600 "$rkeys"/*
lb_port=${SMOKE_LB_PORT:-18791} a_port=${SMOKE_A_PORT:-18792} b_port=${SMOKE_B_PORT:-18793} pg_port=${SMOKE_PG_PORT:-15499}
conf=$(mktemp)
sed -e "s/127.0.0.1:8787;/127.0.0.1:$lb_port;/" -e "s/127.0.0.1:8781;/127.0.0.1:$a_port;/" -e "s/127.0.0.1:8782;/127.0.0.1:$b_port;/" \
  config/nginx-replicas.conf >"$conf"
chmod 644 "$conf"
export EPHEMERA_KEYS_DIR="$rkeys" EPHEMERA_NGINX_CONF="$conf" EPHEMERA_PG_PORT="$pg_port" EPHEMERA_A_PORT="$a_port" EPHEMERA_B_PORT="$b_port"
MODEL_GATEWAY_PORTS="8788 8790" sh scripts/lock-egress.sh >/dev/null
replicas() { compose -p "$rproject" -f docker-compose.replicas.yml "$@"; }
replicas_down() { replicas down -v >/dev/null 2>&1 || true; rm -rf "$rkeys" "$conf"; sh scripts/lock-egress.sh >/dev/null; }
[ -n "${SMOKE_KEEP:-}" ] || trap 'replicas_down; kill "$fake_pid" 2>/dev/null || true' EXIT
replicas up -d --no-build >/dev/null 2>&1 || { replicas up -d --no-build; die "compose up of the replicas failed"; }
replicas_logs() { replicas logs --no-color >&2 || true; }
for p in "$a_port" "$b_port" "$lb_port"; do wait_ready "http://127.0.0.1:$p"; done
lb=http://127.0.0.1:$lb_port

unset EPHEMERA_KEY
http "$lb/v1/sessions" >/dev/null && die "a keyless request through the balancer was served"
EPHEMERA_KEY=$(replicas exec -T ephemera-a node dist/cli/keys.js create --name smoke --role admin) || die "creating a key in a replica failed"
export EPHEMERA_KEY
out=$(http "$lb/v1/run" 'echo one') || { replicas_logs; die "a run through the balancer failed: $out"; }
[ "$out" = one ] || { replicas_logs; die "unexpected reply through the balancer: $out"; }
session=$(http "$lb/v1/sessions" | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).items[0].id))')
out=$(http "$lb/v1/sessions/$session/messages" 'wc -l < /ephemera/history.jsonl') || { replicas_logs; die "the second turn failed: $out"; }
[ "$out" = 2 ] || { replicas_logs; die "the second turn did not see the first (history lines: $out)"; }
# Gemini runs until each replica ran one: both model gateways are reached through the egress chain.
sql() { PGPASSWORD=$pg_password psql -h 127.0.0.1 -p "$pg_port" -U ephemera -d ephemera -Atc "$1"; }
i=0
while [ "$(sql "select count(distinct instance_id) from runs where agent = 'gemini' and status = 'succeeded'")" != 2 ]; do
  i=$((i + 1)); [ "$i" -le 6 ] || { replicas_logs; die "gemini runs did not succeed on both replicas"; }
  reply=$(http "$lb/v1/run?agent=gemini" 'Say hello') || { replicas_logs; die "a gemini run through the balancer failed: $reply"; }
done
[ "$(sql "select count(distinct instance_id) from runs")" = 2 ] || die "the runs were not spread over both replicas"
docker inspect $(replicas ps -q) | grep -qF "$pg_password" && die "the database password is in docker inspect"
replicas_down
left=$(docker ps -aq --filter label=ephemera.managed=true)
[ -z "$left" ] || die "managed containers left behind: $left"
say "ok: docker-compose.replicas.yml: two replicas on Postgres behind nginx; a session continued across them, a gemini run on each"
