# syntax=docker/dockerfile:1

# ---- build: install the package and its dependencies into a virtualenv ----
FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src
# .dockerignore keeps .env, .git, .venv and local databases out of the context.
COPY . .
# The wheel carries the message templates (templates/ -> messenger/_templates).
RUN pip install --no-cache-dir .

# ---- runtime: the virtualenv only, run as an unprivileged user ----
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH" \
    MESSENGER_HTTP_HOST=0.0.0.0 \
    MESSENGER_HTTP_PORT=8080

RUN groupadd --system messenger \
 && useradd --system --gid messenger --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin messenger

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Writable for the SQLite fallback (sqlite:///messenger.db); production uses PostgreSQL.
RUN chown messenger:messenger /app

USER messenger

EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

# Secrets (bot token, database password) come from the environment at run time.
CMD ["sh", "-c", "messenger db upgrade && messenger run"]
