# syntax=docker/dockerfile:1
# The admin CLI (tools/cli) as an image: docker-compose's one-shot `cli` (profile `admin`) runs it to create the
# first org, admin and API token of a deployment. Built from the repository root:
#   docker build -f tools/build/cli.Dockerfile -t otesse/cli .
# Usage in compose (see the top of docker-compose.yml):
#   docker compose --profile admin run --rm -T cli token:create --email ada@acme.test
# token:create prints the token on the CLI's stdout only (nothing is logged); --rm removes the container, and
# with it the output Docker kept.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY tools/build/ tools/build/
COPY libs/ libs/
COPY tools/cli/ tools/cli/
RUN node tools/build/bundle.mjs cli

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist/tools/cli/ dist/tools/cli/
USER node
# `docker compose run cli <command> [options]`: the arguments follow the entry point.
ENTRYPOINT ["node", "dist/tools/cli/main.mjs"]
