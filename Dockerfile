# syntax=docker/dockerfile:1
# borderbus: one image for every service (ENTRYPOINT borderbus; the Helm chart picks the subcommand).
# Base: python:3.11.14-slim-bookworm, pinned by the digest of its multi-architecture index.

# Stage 1: build the borderbus wheel and a wheel of every dependency (compilers live only here).
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml ./
COPY services ./services
RUN pip wheel --wheel-dir /wheels .

# Stage 2: a venv installed from those wheels only, the schemas and the default configuration.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 borderbus \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin borderbus
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/borderbus \
 && /opt/borderbus/bin/pip install --no-index --find-links /wheels borderbus
COPY schemas/avro /app/schemas/avro
COPY ops/config /app/ops/config
ENV PATH=/opt/borderbus/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    BORDERBUS_CONFIG_DIR=/app/ops/config \
    BORDERBUS_SCHEMA_DIR=/app/schemas/avro
WORKDIR /app
USER 10001:10001
# agency service, correlator web (metrics, health), duty desk
EXPOSE 8100 6066 8300
ENTRYPOINT ["borderbus"]
CMD ["--help"]
