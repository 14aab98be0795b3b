# The API and the worker share one image; docker-compose.yml picks the command.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
COPY schema.graphql /schema.graphql
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CHURNS_DATA_DIR=/data CHURNS_HOST=0.0.0.0 CHURNS_PORT=8000

WORKDIR /app
# The faces offline text repair matches old lettering against: DejaVu and Liberation, in all their cuts.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-dejavu-extra fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY churns_gql ./churns_gql
RUN pip install --no-cache-dir .

COPY alembic.ini ./
COPY migrations ./migrations
COPY configs ./configs
COPY --from=web /web/dist ./web/dist

ENV CHURNS_CONFIGS_DIR=/app/configs CHURNS_WEB_DIR=/app/web/dist
VOLUME ["/data"]
EXPOSE 8000
CMD ["sh", "-c", "churns-gql migrate && churns-gql serve"]
