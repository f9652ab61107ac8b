# The code-location image: serves batch_training's Definitions over gRPC to the Dagster webserver
# and daemon (workspace.yaml's grpc_server, or the Helm chart's user deployment; README
# "Production"). No secrets are baked in: the DWH and registry URLs and the instance's PostgreSQL
# settings come from the environment at run time.
#
#   buildah bud -t batch-training:latest .        (or docker build)
# BASE_IMAGE is any image with Python 3.11 and its venv module: python:3.11-slim-bookworm from a
# registry, or the Debian-bootstrapped localhost/batch-training/serving-base:bookworm of
# `make serving-base` where no registry is reachable. A wheels/ folder in the build context (pip
# download of the pinned requirements, as the CI does) makes the install offline.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Where pip finds the CPU build of torch==2.13.0 when installing online (PyPI's default Linux build
# is the CUDA one).
ARG PIP_EXTRA_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    BATCH_TRAINING_HOME=/opt/dagster/data \
    BATCH_TRAINING_ENV=production

WORKDIR /opt/dagster/app
COPY . /tmp/build
RUN python3 -m venv /opt/venv \
 && if [ -d /tmp/build/wheels ]; then \
      pip install --no-index --find-links /tmp/build/wheels batch_training; \
    else \
      pip install ${PIP_EXTRA_INDEX_URL:+--extra-index-url "$PIP_EXTRA_INDEX_URL"} /tmp/build; \
    fi \
 && mkdir -p /opt/dagster/dagster_home /opt/dagster/data \
 && cp /tmp/build/dagster.yaml /tmp/build/workspace.yaml /opt/dagster/dagster_home/ \
 && rm -rf /tmp/build \
 && (groupadd --system --gid 10001 dagster && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster dagster || true) \
 && chown -R 10001:10001 /opt/dagster

# A numeric uid works even where the base image has no useradd.
USER 10001
EXPOSE 4000
# Inside a container the server must listen beyond loopback for the webserver to reach it.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "batch_training.definitions"]
