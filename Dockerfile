# The Ephemera service. Production builds from the public Node image:
#   docker build -t ephemera .
# Machines with no registry build from a locally made base (scripts/build-images.sh):
#   docker build --build-arg BASE=ephemera-base/node:local -t ephemera .
# Node 22 LTS (maintained until April 2027), not 24: better-sqlite3 12 aborts the process under
# Node 24 when V8 finalizes a statement (seen here: 2 of 8 starts; its v13 fixes it, but needs
# Node >= 22, and development runs on Node 20). Offline, scripts/vendor-service.sh (npm run
# setup) puts that Node, a better-sqlite3 compiled for it and an npm cache of the lockfile in
# vendor/service/.
ARG NODE_VERSION=22.23.3
ARG BASE=node:22-bookworm-slim

FROM ${BASE} AS build
WORKDIR /app
COPY . .
# Dependencies are installed here, from package-lock.json; the host's node_modules stays out
# (.dockerignore). Offline (vendor/service/ made by scripts/vendor-service.sh): from its npm
# cache, without install scripts, and the one native module (better-sqlite3) is its copy compiled
# for the image's Node; the last step below proves it loads. Online: a plain `npm ci`.
RUN if [ -d vendor/service/npm-cache ]; then \
      npm ci --offline --ignore-scripts --cache vendor/service/npm-cache --no-audit --no-fund \
      && mkdir -p node_modules/better-sqlite3/build/Release \
      && cp vendor/service/better_sqlite3.node node_modules/better-sqlite3/build/Release/; \
    else npm ci --no-audit --no-fund; fi \
 && node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && node scripts/bundle.mjs \
 && npm prune --omit=dev --offline --no-audit --no-fund \
 && mkdir -p /app/runtime \
 && if [ -f vendor/service/node ]; then cp vendor/service/node /app/runtime/node; fi

FROM ${BASE}
ARG NODE_VERSION
# The vendored Node over the base's own (nothing to copy when the base is that Node's image).
COPY --from=build /app/runtime/ /usr/local/bin/
RUN v=$(node -v) && case "$v" in "v${NODE_VERSION%%.*}."*) ;; *) echo "node $v in the image, want ${NODE_VERSION}" >&2; exit 1;; esac
LABEL org.opencontainers.image.title="ephemera" \
      org.opencontainers.image.description="One fresh container per request for agent CLIs, streamed; sessions replayed from SQLite" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.documentation="README.md"
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8787 \
    DATABASE_PATH=/data/ephemera.db \
    PROFILES_PATH=/app/config/profiles.json
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/config ./config
RUN mkdir -p /data && chown 1000:1000 /data && chmod 700 /data
# uid 1000 is `node` in the Node images. It reaches the engine through the mounted
# socket: run with --group-add <the socket's group id>.
USER 1000:1000
VOLUME /data
EXPOSE 8787
# /readyz: the database answers and the engine does. Node's own fetch: the image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8787)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A better-sqlite3 built for another Node would fail at the first query: fail the build instead.
RUN node -e "new (require('better-sqlite3'))(':memory:').close()"
# The bundle (scripts/bundle.mjs), ~25 MB less memory than tsc's output; the node flags are scripts/node-flags.mjs's.
CMD ["node", "--max-semi-space-size=1", "dist/bundle/index.js"]
