# dbwarden: build with dev dependencies, run with production ones only.
# No Docker engine runs where dbwarden is developed; test/dockerfile.test.ts lints this file and runs the
# same install, build, entrypoint and start commands it does.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/aliases.mjs ./scripts/
COPY src ./src
RUN npm run build && chmod +x dist/cli.js && npm prune --omit=dev --omit=optional --no-audit --no-fund

# Debian and the build stage's node binary, not the node image: its npm, yarn and headers (~30 MB) never run here.
FROM debian:bookworm-slim
# pg_dump and pg_restore from the PostgreSQL project's repository, newest major by default: a newer pg_dump dumps
# every older server, while Debian's own (15) cannot dump the 16, 17 and 18 servers PaaS hosts run. Another major:
# docker build --build-arg PG_MAJOR=17 . (serve logs the pg_dump it found at start). The package is unpacked
# rather than installed: its wrapper scripts need Perl (~48 MB); only the binaries' own libraries are installed,
# and the build fails if the binaries do not run.
ARG PG_MAJOR=18
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && cd /tmp \
 && apt-get download "postgresql-client-${PG_MAJOR}" \
 && apt-get install -y --no-install-recommends $(dpkg-deb -f postgresql-client-*.deb Depends | tr ',' '\n' \
      | sed -e 's/(.*)//' -e 's/|.*//' -e 's/ //g' | grep -v -e '^postgresql-client-common$' -e '^sensible-utils$') \
 && dpkg-deb -x postgresql-client-*.deb /tmp/pg \
 && install -d /usr/lib/postgresql \
 && mv "/tmp/pg/usr/lib/postgresql/${PG_MAJOR}" /usr/lib/postgresql/ \
 && rm -rf /tmp/pg postgresql-client-*.deb \
 && apt-get purge -y curl \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version \
 && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_restore" --version
# The unprivileged user the entrypoint drops to, as the node image defines it (uid and gid 1000).
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY --from=build /usr/local/bin/node /usr/local/bin/node

# MALLOC_ARENA_MAX: glibc gives each thread that allocates an arena of its own, and V8's background compile threads
# keep theirs grown after compiling hot code. For `serve`, where TurboFan stays on: with the age library's JavaScript
# cipher it took an encrypted backup's peak RSS 77 → 73–76 MiB (issue 16; GNU time, 3 alternated runs). backup,
# verify and restore turn TurboFan off and the cipher is OpenSSL's now (66 MiB either way). Only settable before
# node starts.
ENV NODE_ENV=production \
    PORT=8080 \
    DBWARDEN_STORE=/data \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY docker/entrypoint.sh /usr/local/bin/dbwarden-entrypoint
# `docker run <image> dbwarden preflight …` runs the CLI; /data works without a volume too.
RUN ln -s /app/dist/cli.js /usr/local/bin/dbwarden && install -d -o node -g node /data
# No USER and no VOLUME: the entrypoint starts as root, makes a mounted /data writable and drops to "node".
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Idle memory (issue 14, `npm run bench:serve`): a 1 MB young generation instead of 16 MB, and WebAssembly (undici's
# HTTP parser, the CJS export lexer) left on its baseline compiler: its background optimising compiles were most of
# the start-up peak a Slack or Discord client leaves behind. Neither changes what dbwarden does.
ENTRYPOINT ["/usr/local/bin/dbwarden-entrypoint"]
CMD ["node", "--max-semi-space-size=1", "--liftoff-only", "dist/cli.js", "serve"]
