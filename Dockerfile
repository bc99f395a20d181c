# syntax=docker/dockerfile:1
# The nodeway agent image, for linux/amd64 and linux/arm64, for users with Docker:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/nodeway:0.1.0 --push .
#
# It holds the same files as `npm run image` (dist/nodeway-image.oci.tar, built with no daemon
# and no registry): both run scripts/image.mjs --tree, which extracts the Debian packages with
# mmdebstrap (scripts/image-rootfs.sh), takes the pinned Node.js from the npm package
# node-linux-<arch> and bundles the agent; the three trees are the three layers.

# Must match the "node" dependency in package.json: the Node.js the agent is tested on.
ARG NODE_VERSION=24.21.0

# Runs natively on the build machine for every target: nothing in it executes target code
# (packages are extracted, not installed; the Node.js binary is downloaded and stripped).
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends mmdebstrap ca-certificates binutils binutils-x86-64-linux-gnu binutils-aarch64-linux-gnu \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm ci && node scripts/image.mjs --tree ${TARGETARCH} /tree

FROM scratch
COPY --from=build /tree/rootfs/ /
COPY --from=build /tree/node/ /
COPY --from=build /tree/app/ /
ENV PATH=/opt/nodeway/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/opt/nodeway/bin/nodeway"]
CMD ["run"]
