# syntax=docker/dockerfile:1

# ---- build: install the package and its dependencies into a virtualenv ----
FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src
# Dependencies first, each pinned by hash: this layer is rebuilt only when the lock changes,
# and a build installs exactly what was tested.
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
# .dockerignore keeps .env, .git, .venv and local databases out of the context.
COPY . .
# The wheel carries the message templates (templates/ -> messenger/_templates); its
# dependencies all came from the lock above.
RUN pip install --no-cache-dir --no-deps .

# ---- runtime: the virtualenv only, run as an unprivileged user ----
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH" \
    MESSENGER_HTTP_HOST=0.0.0.0 \
    MESSENGER_HTTP_PORT=8080

# Numeric ids, so an orchestrator (Kubernetes' runAsNonRoot) can check the user is not root.
RUN groupadd --system --gid 10001 messenger \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin messenger

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Writable for the SQLite fallback (sqlite:///messenger.db); production uses PostgreSQL.
RUN chown 10001:10001 /app

USER 10001:10001

EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

# Secrets (bot token, database password) come from the environment at run time.
# The app is PID 1, so `docker stop`'s SIGTERM reaches it and the graceful shutdown runs;
# it brings the database schema up to date itself at start (MESSENGER_AUTO_MIGRATE).
CMD ["messenger", "run"]
