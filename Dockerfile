# The code-location image: serves batch_training's Definitions over gRPC to the Dagster webserver
# and daemon (see workspace.yaml / README "Production"). No secrets are baked in: the DWH URL and
# the instance's PostgreSQL settings come from the environment at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Where pip finds the CPU build of torch==2.13.0 (PyPI's default build for Linux is the CUDA one).
ARG PIP_EXTRA_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    BATCH_TRAINING_HOME=/opt/dagster/data

RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --create-home dagster \
 && mkdir -p /opt/dagster/app /opt/dagster/dagster_home /opt/dagster/data \
 && chown -R dagster:dagster /opt/dagster

WORKDIR /opt/dagster/app
COPY pyproject.toml README.md ./
COPY batch_training ./batch_training
RUN pip install ${PIP_EXTRA_INDEX_URL:+--extra-index-url "$PIP_EXTRA_INDEX_URL"} . \
 && python -c "import batch_training.definitions"
COPY dagster.yaml workspace.yaml /opt/dagster/dagster_home/

USER dagster
EXPOSE 4000
# Inside a container the server must listen beyond loopback for the webserver to reach it.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "batch_training.definitions"]
