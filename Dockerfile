# One image for the worker and the API (the command differs). Production-like stack:
# see docker-compose.yml. SoftHSM2 stands in for a network HSM's PKCS#11 module.
# The worker builds delta updates with qbsdiff (activities/deltas.ts): built from crates.io here.
FROM rust:1-bookworm AS qbsdiff
RUN cargo install qbsdiff --version 1.4.4 --features cmd --bins --root /opt/qbsdiff

# The transparency log server (scripts/tlog): Tessera, linked with cgo (it loads the PKCS11 module).
FROM golang:1.26-bookworm AS tlog
COPY scripts/tlog /src
RUN cd /src && CGO_ENABLED=1 go build -o /opt/tlog .

# python3, make, g++: native addons (pkcs11js) build against this Node. bzip2: unpacks qbsdiff's blocks.
# openssl: the compose file's storage-tls service makes object storage's certificate with it.
FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends softhsm2 bzip2 openssl python3 python3-venv make g++ && rm -rf /var/lib/apt/lists/*
# The API validates SPDX SBOMs with SPDX's own parser (PyPI spdx-tools; infra/spdxTools.ts).
RUN python3 -m venv /opt/spdx-tools && /opt/spdx-tools/bin/pip install --no-cache-dir spdx-tools==0.8.5
ENV OTA_SPDX_TOOLS=/opt/spdx-tools/bin/pyspdxtools
COPY --from=qbsdiff /opt/qbsdiff/bin/qbsdiff /usr/local/bin/qbsdiff
COPY --from=tlog /opt/tlog /usr/local/bin/tlog
WORKDIR /app
COPY package.json package-lock.json ./
COPY client-sdk/package.json client-sdk/
RUN npm ci
COPY . .
RUN npx tsc -b
ENV NODE_ENV=production
CMD ["node", "dist/api/main.js"]
