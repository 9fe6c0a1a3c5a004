# lead-sprint image: the project with its pinned Dagster, pg_dump/pg_restore, a non-root user.
# One image plays every part: a sprint's gRPC code server (the default command), the webserver
# and daemon under compose, and each run's container (DockerRunLauncher) or pod (K8sRunLauncher).
# Build: `make image` (docs/deploy.md). Base image as a build argument, e.g.
#   docker build --build-arg BASE_IMAGE=python:3.12-slim -t lead-sprint:0.1.0 .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# The run worker builds the Dagster instance from dagster.yaml, so the image that runs the runs
# must import the run launcher's and the compute log manager's modules. Same release line as the
# integration pins in pyproject.toml (0.29.27 pairs with dagster 1.13.27).
ARG DAGSTER_DEPLOY_LIBS="dagster-docker==0.29.27 dagster-k8s==0.29.27 dagster-aws==0.29.27"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    LEAD_SPRINT_STATE_DIR=/var/lib/lead-sprint

# pg_dump / pg_restore for lead_store_backup and `lead-sprint restore`. pg_dump refuses a server
# newer than itself: keep the base image's client major >= the PostgreSQL server's.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/lead-sprint
COPY pyproject.toml README.md ./
COPY lead_assets ./lead_assets
COPY sql ./sql
# Editable on purpose: the store reads its DDL from sql/ beside the package
# (lead_assets/store/database.py, SQL_DIR = REPO_DIR / "sql").
RUN pip install -e .[s3] ${DAGSTER_DEPLOY_LIBS}

# Numeric uid so Kubernetes' runAsNonRoot can verify it. The folders it writes exist in the image,
# owned by it, so a named volume mounted there (compose) starts with that owner.
RUN groupadd --system --gid 10001 leadsprint \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/leadsprint --create-home leadsprint \
    && mkdir -p "${DAGSTER_HOME}" "${LEAD_SPRINT_STATE_DIR}" /opt/dagster/compute_logs \
    && chown -R 10001:10001 "${DAGSTER_HOME}" "${LEAD_SPRINT_STATE_DIR}" /opt/dagster/compute_logs
USER 10001:10001

EXPOSE 4000
# No HEALTHCHECK here: the same image runs the webserver, the daemon and every run, which serve
# no gRPC port; compose and the Helm chart probe the code server where it runs.

# CMD, not ENTRYPOINT: the run launchers and compose replace the command (`dagster api
# execute_run ...`, `dagster-webserver`, `dagster-daemon run`), which an ENTRYPOINT would prefix.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "lead_assets.definitions"]
