# syntax=docker/dockerfile:1
# The fake OAuth provider (docker-compose profile `demo`), built from the repository root:
#   docker build -f tools/build/fake-provider.Dockerfile -t otesse/fake-provider .
# It lives here because tools/fake-provider/ belongs to its own owners; same shape as apps/*/Dockerfile.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY tools/build/ tools/build/
COPY tools/fake-provider/ tools/fake-provider/
RUN node tools/build/bundle.mjs fake-provider

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    FAKE_PROVIDER_HOST=0.0.0.0 \
    FAKE_PROVIDER_PORT=4010
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist/tools/fake-provider/ dist/tools/fake-provider/
USER node
EXPOSE 4010
# The only unauthenticated GET: RFC 8414 metadata.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.FAKE_PROVIDER_PORT + '/.well-known/oauth-authorization-server').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/tools/fake-provider/main.mjs"]
