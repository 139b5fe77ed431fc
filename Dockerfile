# syntax=docker/dockerfile:1
#
# The production image: `docker build -t logistics .` (docs/production.md).
# Two stages: the builder turns the project and its dependencies into wheels; the runtime
# installs only those wheels, so no compiler, build tool or source tree reaches the image.

ARG PYTHON_IMAGE=python:3.11-slim
# Optional extras of the package, e.g. `--build-arg EXTRAS=[tracing]` for OpenTelemetry.
ARG EXTRAS=""

FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml ./
COPY logistics ./logistics
RUN pip wheel --wheel-dir /wheels ".${EXTRAS}"

FROM ${PYTHON_IMAGE} AS runtime
ARG EXTRAS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The wheels are mounted for the install instead of copied: a copy would stay in a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "logistics${EXTRAS}"
# A fixed, numeric, unprivileged id: Kubernetes' runAsNonRoot can check it, and volume owners
# and secret files can be given to it on the host.
RUN groupadd --system --gid 10001 logistics \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin logistics \
    && mkdir -p /app /data/storage \
    && chown 10001:10001 /data/storage
COPY --chmod=0755 deploy/entrypoint.sh /usr/local/bin/logistics-entrypoint

# Production unless told otherwise: without real secrets the server refuses to start
# (Settings.check_production) instead of running on the published development ones.
ENV LOGISTICS_ENV=production \
    LOGISTICS_STORAGE_DIR=/data/storage \
    PORT=8000 \
    LOGISTICS_WORKERS=2
# Uploads: a volume, shared by every replica (a file uploaded through one is served by all).
# Docker gives a new named volume this directory's owner, so the user below can write it.
VOLUME ["/data/storage"]
WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz answers while the process serves); /readyz is for load balancers.
# The slim image has no curl: Python's urllib fails on a refused connection or a non-2xx.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]

ENTRYPOINT ["logistics-entrypoint"]
CMD ["serve"]
