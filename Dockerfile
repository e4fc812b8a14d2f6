# One image for the worker and the API (the command differs). Production-like stack:
# see docker-compose.yml. SoftHSM2 stands in for a network HSM's PKCS#11 module.
# zstd: the worker builds delta updates with it (activities/deltas.ts).
FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends softhsm2 zstd python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY client-sdk/package.json client-sdk/
RUN npm ci
COPY . .
RUN npx tsc -b
ENV NODE_ENV=production
CMD ["node", "dist/api/main.js"]
