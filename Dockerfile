# The rxmesh agent / name server image (README "Running in containers and as a service").
#
#   docker build -t rxmesh .
#   docker run --rm --shm-size=256m --ipc=shareable --name rxmesh rxmesh              # rxmesh up (default)
#   docker run --rm --shm-size=256m --ipc=shareable rxmesh agent --registry etcd://etcd:2379 \
#       --shm-dir /dev/shm/rxmesh --listen 0.0.0.0:7100 --advertise HOST:7100       # an agent on etcd
#   docker run --rm -p 9092:9092 rxmesh ns --host 0.0.0.0 --games /run/games.json  # a name server
#
# Apps reach the agent through /dev/shm: run them with --ipc=container:rxmesh (same /dev/shm) and the
# same uid (--user 1000), and connect({ agent: '/dev/shm/rxmesh/agent.sock' }) or RXMESH_AGENT.
#
# The base images are arguments so that a mirror or a pinned digest can be used.
ARG NODE_VERSION=20
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm
ARG RUNTIME_IMAGE=node:${NODE_VERSION}-bookworm-slim

# ---- build: compile dist/, pack the package as npm would, install it with etcd3, build the ring library
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# --ignore-scripts: prepack builds the four cross-compiled prebuilds (cross toolchains this image does
# not have); the image compiles the library for its own platform below instead.
RUN npm run prepare && npm pack --ignore-scripts --pack-destination /tmp
WORKDIR /app
# The agent image serves etcd registries too, so it installs the optional peers etcd3 and cockatiel.
RUN echo '{"name":"rxmesh-image","private":true}' > package.json \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund /tmp/rxmesh-*.tgz \
      "etcd3@$(node -p "require('/src/package.json').peerDependencies.etcd3")" \
      "cockatiel@$(node -p "require('/src/package.json').peerDependencies.cockatiel")" \
 && make -s -C node_modules/rxmesh \
 && node --input-type=module -e "import { findLibrary } from '/app/node_modules/rxmesh/dist/native/locate.js'; \
      const l = findLibrary(); if (!l.loaded) { console.error(l.attempts); process.exit(1); } console.log('ring library:', l.path)"

# ---- runtime: Node and the installed package only; no compiler, not root
FROM ${RUNTIME_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
# uid 1000 is `node` in the official images; any uid works (a uid without a passwd entry gets
# /dev/shm/rxmesh-uid<N> by default). Apps sharing the rings must run as the same uid.
USER 1000:1000
# 9092 name server (agents), 8082 its read-only HTTP view (127.0.0.1 unless --http-host), 7100 peer links
# when started with --listen 0.0.0.0:7100.
EXPOSE 9092 8082 7100
ENTRYPOINT ["node", "/app/node_modules/rxmesh/bin/rxmesh.js"]
CMD ["up", "--shm-dir", "/dev/shm/rxmesh"]
