# chargebay: one image for every role (`chargebay serve` by default; see docker-compose.yml).

# The dashboard's third-party JavaScript, from the npm registry as package-lock.json pins it.
FROM node:20-slim AS ui-vendor
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
# every package pyproject.toml installs (tests/test_deploy.py holds the two lists together)
COPY chargebay ./chargebay
COPY common ./common
COPY ocppj ./ocppj
COPY chargepoint ./chargepoint
COPY csms ./csms
COPY lockers ./lockers
COPY api ./api
COPY charger_sim ./charger_sim
COPY locker_bridge ./locker_bridge
COPY --from=ui-vendor /app/node_modules ./node_modules
# editable, as `make install` does: the app serves node_modules from beside its packages
RUN pip install --no-cache-dir -e .
ENV CHARGEBAY_HOST=0.0.0.0 \
    CHARGEBAY_DATA_DIR=/data
VOLUME /data
EXPOSE 9000 8000
CMD ["chargebay", "serve"]
