# Switchboard server image.
#
#   docker build -t switchboard:local .
#   docker run --rm -p 8080:8080 \
#     -e SWITCHBOARD_REDIS_URL=redis://redis:6379/0 \
#     -e SWITCHBOARD_DATABASE_URL=postgresql://switchboard:secret@postgres:5432/switchboard \
#     -e SWITCHBOARD_SECRET_KEY=... switchboard:local
#
# Stages: web-deps (npm packages the static pages load), python-build (a virtualenv with the
# server and its dependencies), runtime (slim, non-root, no compilers, no npm).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web-deps
WORKDIR /build/web
# Only the manifests, so editing a page or a handler does not re-run npm. pyproject.toml is an
# anchor that always exists: a COPY whose wildcards all match nothing fails the build.
COPY pyproject.toml web/package*.json web/npm-shrinkwrap.json* ./
ARG NPM_FLAGS="--omit=dev --no-audit --no-fund"
# Versions come from package.json / package-lock.json, not from this command line.
# hadolint ignore=DL3016
RUN set -eux; \
    rm -f pyproject.toml; \
    if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then \
        npm ci ${NPM_FLAGS}; \
    elif [ -f package.json ]; then \
        npm install ${NPM_FLAGS}; \
    fi; \
    mkdir -p node_modules; \
    npm cache clean --force >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS python-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (read from pyproject.toml), in their own layer: a source edit does not
# reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
# The whole context: .dockerignore keeps it to the packages pyproject.toml lists (tests, bench,
# deploy, caches and node_modules stay out), so a new package needs no Dockerfile edit.
COPY . .
RUN pip install --no-deps . \
    && python -I -c "import importlib.util as u; assert u.find_spec('switchboard') and u.find_spec('web')" \
    && command -v switchboard

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Self-hosted contact-center routing server" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWITCHBOARD_HOST=0.0.0.0 \
    SWITCHBOARD_PORT=8080

RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --home-dir /app --shell /usr/sbin/nologin switchboard

COPY --from=python-build /opt/venv /opt/venv
# The browser packages the static pages load, at /app/web/node_modules, and linked beside the
# installed `web` package so a lookup relative to either the working dir or the package finds them.
COPY --from=web-deps --chown=root:root /build/web/node_modules /app/web/node_modules
RUN set -eux; \
    webdir="$(python -c 'import importlib.util as u; print(u.find_spec("web").submodule_search_locations[0])')"; \
    [ -e "$webdir/node_modules" ] || ln -s /app/web/node_modules "$webdir/node_modules"; \
    chown switchboard:switchboard /app

WORKDIR /app
USER 10001:10001
EXPOSE 8080

# /healthz says the process is up; readiness (/readyz: Redis + PostgreSQL) is for the orchestrator.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SWITCHBOARD_PORT', '8080'), timeout=2).status == 200 else 1)"]

STOPSIGNAL SIGTERM
CMD ["switchboard", "serve"]
