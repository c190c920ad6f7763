#!/bin/sh
# Builds the service image (Dockerfile) and sends one request through it, with the
# engine socket mounted, the way an operator would run it.
set -eu
cd "$(dirname "$0")/.."
say() { printf '[image-smoke] %s\n' "$*"; }
die() { printf '[image-smoke] ERROR: %s\n' "$*" >&2; exit 1; }

export DOCKER_BUILDKIT=0
tag=ephemera/service:smoke
name=ephemera-smoke-$$
port=${SMOKE_PORT:-18787}

if docker image inspect node:22-bookworm-slim >/dev/null 2>&1; then base=node:22-bookworm-slim; else base=ephemera-base/node:local; fi
node_version=$(sed -n 's/^ARG NODE_VERSION=//p' Dockerfile)
say "building $tag (BASE=$base)"
log=$(mktemp)
# The image installs its own packages: a file planted in the host's node_modules must not reach it.
marker=node_modules/.ephemera-host-only
[ -d node_modules ] && : >"$marker"
docker build --build-arg BASE="$base" -t "$tag" . >"$log" 2>&1 || { rm -f "$marker"; cat "$log" >&2; die "docker build failed"; }
rm -f "$log" "$marker"
docker run --rm --entrypoint sh "$tag" -c "test ! -e /app/$marker && test -d /app/node_modules/better-sqlite3" \
  || die "the image took the host's node_modules instead of installing its own"

sock=${DOCKER_SOCK:-/var/run/docker.sock}
volume=ephemera-smoke-data-$$
fake_pid=
cleanup() {
  # Stopped first: a service that gets its SIGTERM removes its waiting (standby) containers.
  docker stop -t 15 "$name" "$name-host" >/dev/null 2>&1 || true
  docker rm -fv "$name" "$name-host" >/dev/null 2>&1 || true
  docker volume rm "$volume" "$volume-host" >/dev/null 2>&1 || true
  [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
}
[ -n "${SMOKE_KEEP:-}" ] || trap cleanup EXIT
# Listening on 0.0.0.0 needs an API key: create one with the image's own CLI.
EPHEMERA_KEY=$(docker run --rm -v "$volume:/data" "$tag" node dist/cli/keys.js create --name smoke --role admin 2>/dev/null)
export EPHEMERA_KEY
docker run -d --name "$name" -v "$volume:/data" \
  -v "$sock:/var/run/docker.sock" --group-add "$(stat -c %g "$sock")" \
  -p "127.0.0.1:$port:8787" "$tag" >/dev/null

http() { node scripts/http.mjs "$@"; }

# Stops the service in container $1 (SIGTERM, as docker stop sends it), then fails if any
# managed container is left.
stopped_clean() {
  docker stop -t 15 "$1" >/dev/null
  left=$(docker ps -aq --filter label=ephemera.managed=true)
  [ -z "$left" ] || { docker logs "$1" >&2; die "managed containers left behind: $left"; }
}

# Waits until the service in container $1 answers /readyz on port $2.
wait_ready() {
  i=0
  until http "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then docker logs "$1" >&2; die "the service in container $1 never became ready"; fi
    sleep 0.5
  done
}
wait_ready "$name" "$port"

out=$(http "http://127.0.0.1:$port/v1/run" 'echo "hello from $(id -u)"; wc -l < /ephemera/history.jsonl')
[ "$out" = "hello from 1000
0" ] || { docker logs "$name" >&2; die "unexpected reply: $out"; }
docker exec "$name" id -u | grep -qx 1000 || die "the service does not run as uid 1000"
[ "$(docker exec "$name" node -v)" = "v$node_version" ] || die "the image runs node $(docker exec "$name" node -v), not v$node_version"
# The image's HEALTHCHECK (["CMD", "node", "-e", script]), run now rather than after its first interval.
[ "$(docker image inspect --format '{{index .Config.Healthcheck.Test 1}}' "$tag")" = node ] || die "the image has no node HEALTHCHECK"
docker exec "$name" node -e "$(docker image inspect --format '{{index .Config.Healthcheck.Test 3}}' "$tag")" || die "the HEALTHCHECK fails in a ready service"
[ "$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.title"}}' "$tag")" = ephemera ] || die "the image has no OCI labels"
EPHEMERA_KEY=wrong http "http://127.0.0.1:$port/v1/sessions" >/dev/null && die "a wrong key was accepted"
http "http://127.0.0.1:$port/v1/sessions" | grep -q '"turns":1' || die "the session is not in the history"
# Nothing left once the service stops as `docker stop` stops it: its runs' containers and the
# shell profile's waiting ones (standby: 2) all removed.
stopped_clean "$name"
say "ok: one request through the built image with an API key, service non-root, nothing left behind"

# --- The gemini agent with the service in a container (docs/operations.md, "Running in Docker") -----
# On the host's network, so that its model gateway listens at the egress bridge's address;
# the host's INPUT rules (npm run setup) are vouched for, since uid 1000 cannot read them.
# The model is the fake Gemini API on the host's loopback, which only the service reaches.
fake_port=${SMOKE_FAKE_PORT:-18790}
api_port=${SMOKE_HOST_PORT:-18788}
node --import tsx test/fake-gemini/server.ts "$fake_port" 127.0.0.1 >/dev/null 2>&1 &
fake_pid=$!
docker run -d --name "$name-host" --network host -v "$volume-host:/data" \
  -v "$sock:/var/run/docker.sock" --group-add "$(stat -c %g "$sock")" \
  -e HOST=127.0.0.1 -e PORT="$api_port" -e GEMINI_API_KEY=smoke-key -e EGRESS_TRUST_HOST_RULES=1 \
  -e GEMINI_UPSTREAM_URL="http://127.0.0.1:$fake_port" "$tag" >/dev/null
unset EPHEMERA_KEY # a new database, no key: keyless on the host's loopback
wait_ready "$name-host" "$api_port"
reply=$(http "http://127.0.0.1:$api_port/v1/run?agent=gemini" 'Say hello') || { docker logs "$name-host" >&2; die "the gemini run failed: $reply"; }
[ "$reply" = "Hello from the fake model: turns=1" ] || { docker logs "$name-host" >&2; die "unexpected gemini reply: $reply"; }
stopped_clean "$name-host"
say "ok: a gemini run through the model gateway of the service in a container (host network)"

# --- docker-compose.yml: the same image, brought up by Compose, keys from a folder ----------
# The previous service holds the gateway's port on the host's network: it goes first.
docker rm -f "$name-host" >/dev/null 2>&1 || true
compose() { if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi; }
project=ephemera-smoke-$$
keys=$(mktemp -d)
printf smoke-key >"$keys/gemini_api_key"
chown -R 1000 "$keys" && chmod 700 "$keys" && chmod 600 "$keys/gemini_api_key"
compose_port=${SMOKE_COMPOSE_PORT:-18789}
export EPHEMERA_IMAGE="$tag" EPHEMERA_KEYS_DIR="$keys" DOCKER_GID="$(stat -c %g "$sock")" HOST=127.0.0.1 PORT="$compose_port" \
  GEMINI_UPSTREAM_URL="http://127.0.0.1:$fake_port"
compose_down() { compose -p "$project" down -v >/dev/null 2>&1 || true; rm -rf "$keys"; }
[ -n "${SMOKE_KEEP:-}" ] || trap 'compose_down; cleanup' EXIT
compose -p "$project" up -d --no-build >/dev/null 2>&1 || { compose -p "$project" up -d --no-build; die "compose up failed"; }
cid=$(compose -p "$project" ps -q ephemera)
wait_ready "$cid" "$compose_port"
out=$(http "http://127.0.0.1:$compose_port/v1/run" 'echo composed') || { docker logs "$cid" >&2; die "the run through compose failed: $out"; }
[ "$out" = "composed" ] || { docker logs "$cid" >&2; die "unexpected reply through compose: $out"; }
reply=$(http "http://127.0.0.1:$compose_port/v1/run?agent=gemini" 'Say hello') || { docker logs "$cid" >&2; die "the gemini run through compose failed: $reply"; }
[ "$reply" = "Hello from the fake model: turns=1" ] || { docker logs "$cid" >&2; die "unexpected gemini reply through compose: $reply"; }
[ "$(docker inspect --format '{{.State.Health.Status}}' "$cid")" != unhealthy ] || die "the compose service is unhealthy"
compose_down
left=$(docker ps -aq --filter label=ephemera.managed=true)
[ -z "$left" ] || die "managed containers left behind: $left"
say "ok: docker-compose.yml brings the service up; a command and a gemini run (key from MODEL_KEYS_DIR) through it"

# --- docker-compose.replicas.yml: two replicas on one Postgres, behind nginx ---------------
kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fake_pid=
sh scripts/replicas-smoke.sh "$tag"
