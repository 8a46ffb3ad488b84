# syntax=docker/dockerfile:1
# One Dockerfile for every service: SERVICE names the workspace member, PORT the port it listens on (the
# values are in services.yaml). Build it from the repository root (the uv workspace is the context):
#   docker build --build-arg SERVICE=todos --build-arg PORT=8001 -t todo-suite/todos:0.2.0 .               # prod
#   docker build --build-arg SERVICE=todos --build-arg PORT=8001 --target dev -t todo-suite/todos:dev .    # Tilt's
# Ref: https://docs.astral.sh/uv/guides/integration/docker/ and https://github.com/astral-sh/uv-docker-example
# Bases are pinned by tag; we cannot look digests up from our machines, so none is invented here. A fork
# that deploys should pin each FROM by digest too (`python:3.11-slim-bookworm@sha256:…`).
# tests/k8s/test_dockerfile.py replays the install steps below for every service, outside Docker.

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# The runtime of every target: Python, the venv on PATH, a non-root user with a numeric id (so the
# kubelet can verify `runAsNonRoot` without reading /etc/passwd). uvicorn reads its app and port from
# UVICORN_* variables (its options' environment names), so CMD stays in exec form for every service.
# Ref: https://www.uvicorn.org/settings/
FROM python:3.11-slim-bookworm AS base
ARG SERVICE
ARG PORT
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UVICORN_APP="${SERVICE}.app:create_app" \
    UVICORN_PORT="${PORT}"
RUN test -n "$SERVICE" && test -n "$PORT" \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
WORKDIR /app

# Third-party dependencies only, from the lockfile and the members' pyproject.toml: this layer is rebuilt
# when uv.lock changes, not when a source file does. `--locked` checks the lock against the workspace, so
# every member's pyproject.toml is needed (metadata only: no member's code is copied here).
# Ref: https://docs.astral.sh/uv/guides/integration/docker/#intermediate-layers
FROM base AS deps
ARG SERVICE
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_DEV=1
COPY pyproject.toml uv.lock ./
COPY libs/authz/pyproject.toml libs/authz/
COPY libs/servicekit/pyproject.toml libs/servicekit/
COPY libs/telemetry/pyproject.toml libs/telemetry/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/identity/pyproject.toml services/identity/
COPY services/reminders/pyproject.toml services/reminders/
COPY services/shares/pyproject.toml services/shares/
COPY services/todos/pyproject.toml services/todos/
COPY services/web/pyproject.toml services/web/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY tools/meshgen/pyproject.toml tools/meshgen/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package "$SERVICE"

# The workspace members this service runs and nothing else: uv.lock knows which (`uv export` lists them as
# `-e ./<member>`: the shared libraries it depends on, and the service itself): their src/ and README.md (the
# libraries' package metadata names it). The gateway's image has no servicekit, for example.
# Ref: https://docs.docker.com/reference/dockerfile/#run---mounttypebind
FROM deps AS sources
ARG SERVICE
RUN --mount=type=bind,target=/context \
    set -eu; \
    uv export --frozen --no-dev --package "$SERVICE" --no-hashes --no-header --no-annotate -o /tmp/members.txt; \
    members=$(sed -n 's|^-e \./||p' /tmp/members.txt); \
    rm /tmp/members.txt; \
    test -n "$members"; \
    for member in $members; do \
        cp -R "/context/$member/src" "$member/src"; \
        cp "/context/$member/README.md" "$member/"; \
    done

# `dev` (Tilt): the members installed editable, so Tilt's live_update can sync their src/ into /app and
# uvicorn --reload picks the change up; uv stays in the image for a `uv sync` when uv.lock changes. The app
# user owns /app so that those syncs can write.
# Ref: https://docs.tilt.dev/live_update_reference.html
FROM sources AS dev
ARG SERVICE
ARG PORT
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "$SERVICE" \
    && chown -R 10001:10001 /app
USER 10001:10001
EXPOSE ${PORT}
CMD ["uvicorn", "--factory", "--host", "0.0.0.0", "--loop", "uvloop", "--http", "httptools", "--no-proxy-headers", "--reload", "--reload-dir", "/app/libs", "--reload-dir", "/app/services"]

# The production venv: the members built as wheels into it (`--no-editable`), so the venv alone runs.
FROM sources AS build
ARG SERVICE
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package "$SERVICE"

# `prod`, the last stage (a plain `docker build` gives it): the venv and nothing else of the build — no
# uv, no sources outside the venv, no dev dependencies. Owned by root, so the app cannot change its code.
FROM base AS prod
ARG PORT
COPY --from=build /app/.venv /app/.venv
USER 10001:10001
EXPOSE ${PORT}
CMD ["uvicorn", "--factory", "--host", "0.0.0.0", "--loop", "uvloop", "--http", "httptools", "--no-proxy-headers", "--timeout-graceful-shutdown", "10"]
