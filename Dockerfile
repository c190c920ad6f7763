# The Ephemera service. Production builds from the public Node image:
#   docker build -t ephemera .
# Machines with no registry build from a locally made base (scripts/build-images.sh):
#   docker build --build-arg BASE=ephemera-base/node:local -t ephemera .
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /app
COPY . .
# node_modules in the build context (offline machines) is used as is; otherwise install.
# (Kept on purpose: better-sqlite3 compiles from source when its prebuilt binary cannot be
# fetched, and the locally made base has no compiler; the host's build matches its node.)
RUN if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi \
 && node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && node scripts/bundle.mjs \
 && npm prune --omit=dev --offline --no-audit --no-fund

FROM ${BASE}
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
# The bundle (scripts/bundle.mjs): one file, ~25 MB less memory than tsc's output.
CMD ["node", "dist/bundle/index.js"]
