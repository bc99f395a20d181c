# syntax=docker/dockerfile:1
# The nodeway agent image, for linux/amd64 and linux/arm64:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/nodeway:0.1.0 --push .
#
# (one architecture, loaded into the local engine: docker build -t nodeway:dev .)

# Must match the "node" dependency in package.json: the Node.js the agent is tested on.
ARG NODE_VERSION=24.21.0

# Build stage. The bundle (dist/nodeway.mjs) is plain JavaScript, identical for every
# architecture, so it is built once, natively on the build machine ($BUILDPLATFORM): no
# emulated npm ci for the other architecture. npm ci also runs the "prepare" build.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY . .
RUN npm ci && npm run build

# The Node.js binary for the TARGET architecture. It comes from the official multi-arch image
# of the same version rather than the build stage's node_modules/node/bin/node: that one was
# installed for the build machine's architecture, so it would be an amd64 binary in the arm64
# image of a cross build.
FROM node:${NODE_VERSION}-bookworm-slim AS node

# Runtime: Debian's tools the modules run (nft, ip, wg, wireguard-go, conntrack), the CNI
# plugins the init container installs on hosts (/usr/lib/cni), the launcher and the bundle.
# No node_modules: the bundle is self-contained.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      nftables iproute2 wireguard-tools wireguard-go conntrack containernetworking-plugins ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# bin/nodeway runs node_modules/node/bin/node when present, else the node on PATH (this one).
COPY --from=build /src/bin/nodeway /opt/nodeway/bin/nodeway
COPY --from=build /src/dist/nodeway.mjs /opt/nodeway/dist/nodeway.mjs
ENV PATH=/opt/nodeway/bin:$PATH
ENTRYPOINT ["/opt/nodeway/bin/nodeway"]
CMD ["run"]
