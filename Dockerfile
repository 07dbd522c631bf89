# dbwarden: build with dev dependencies, run with production ones only.
# No Docker engine runs where dbwarden is developed; test/dockerfile.test.ts lints this file and runs the
# same install, build and start commands it does.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM node:22-bookworm-slim
# The newest pg_dump from the PostgreSQL project's own repository: a newer pg_dump dumps every older server,
# while Debian's own (15) cannot dump the 16, 17 and 18 servers PaaS hosts run.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && apt-get purge -y curl \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    PORT=8080 \
    DBWARDEN_STORE=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN install -d -o node -g node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Idle memory (issue 14, `npm run bench:serve`): a 1 MB young generation instead of 16 MB, and WebAssembly (undici's
# HTTP parser, the CJS export lexer) left on its baseline compiler: its background optimising compiles were most of
# the start-up peak a Slack or Discord client leaves behind. Neither changes what dbwarden does.
CMD ["node", "--max-semi-space-size=1", "--liftoff-only", "dist/cli.js", "serve"]
