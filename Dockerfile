# syntax=docker/dockerfile:1
# gitops-watcher container image.
#
#   docker build -t gitops-watcher:0.1.0 .
#   docker run --rm gitops-watcher:0.1.0 --help
#
# Two stages: the builder turns this source tree into wheels (the project's and
# its dependencies'); the runtime stage installs them into a virtual environment
# from the builder's folder, without the network and without compilers, and
# keeps no wheel. To pin the base by digest as well, use
#   FROM python:3.11.17-slim-bookworm@sha256:<digest of `docker buildx imagetools inspect`>

# ---- builder: wheels only --------------------------------------------------
FROM python:3.11.17-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The wheel needs the package, the built-in templates (force-included by
# pyproject.toml) and the README (the package's long description).
COPY pyproject.toml README.md ./
COPY watcher ./watcher
COPY templates ./templates

# Extras in the image: PostgreSQL (HA ledger, MLflow database registry) and MySQL.
ARG EXTRAS=postgres,mysql
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"

# ---- runtime ---------------------------------------------------------------
FROM python:3.11.17-slim-bookworm

ARG VERSION=0.1.0
ARG EXTRAS=postgres,mysql
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://example.com/platform/gitops-watcher

LABEL org.opencontainers.image.title="gitops-watcher" \
      org.opencontainers.image.description="MLflow registry promotions become Kubernetes manifests in a GitOps repository" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.17-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    GITOPS_WATCHER_STATE_DIR=/var/lib/gitops-watcher

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# GitPython runs the git command line; ssh remotes need the ssh client.
# DL3008 (pin apt package versions) is ignored on purpose: Debian's security
# archive keeps only the newest build of a package, so a pinned version stops
# resolving after the next security update and the build breaks. The base tag
# pins the release (bookworm); rebuild the image to pick up security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged UID/GID: the chart's runAsUser/fsGroup use 10001.
RUN groupadd --system --gid 10001 gitops-watcher \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/gitops-watcher \
       --create-home --shell /usr/sbin/nologin gitops-watcher \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/gitops-watcher

# Install from the builder's wheels only (--no-index): no network, no compiler,
# and the wheels are bind-mounted, so none of them stays in a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels \
       "gitops-watcher[${EXTRAS}]==${VERSION}" \
    && gitops-watcher --help > /dev/null

USER 10001:10001
WORKDIR /var/lib/gitops-watcher

# /healthz, /readyz, /metrics, /status and POST /webhooks/mlflow.
EXPOSE 8080

# No HEALTHCHECK: Kubernetes probes /healthz and /readyz (see charts/gitops-watcher),
# and one-shot commands such as `reconcile --once` have no server to check.
ENTRYPOINT ["gitops-watcher"]
CMD ["run", "--listen", "0.0.0.0:8080"]
