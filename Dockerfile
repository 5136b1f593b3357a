# The outreach service in a container. Build and run it with deploy/compose.yaml (README.md,
# "Run it for real"); alone:
#   docker build -t outreach .
#   docker run -d --env-file .env -v outreach-data:/data \
#     -v "$PWD/outreach.toml:/config/outreach.toml:ro" outreach
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid, so a bind-mounted /data can be chowned to it on the host (10001:10001).
RUN groupadd --system --gid 10001 outreach \
    && useradd --system --uid 10001 --gid outreach --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin outreach

WORKDIR /app

# The pinned runtime requirements only (no test tools); a layer of its own, so a code change
# does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# /data holds the database (and backups/ for `main.py backup`); a new named volume takes this
# folder's owner and mode.
RUN install -d -o outreach -g outreach -m 0700 /data /data/backups

# The config is mounted read-only at /config; settings and secrets come from the environment
# (compose's env_file), never from a file in the image. LOG_FORMAT=json: one object per line
# for `docker logs` and log shippers.
ENV DATABASE_PATH=/data/outreach.db \
    OUTREACH_CONFIG=/config/outreach.toml \
    LOG_FORMAT=json \
    MPLCONFIGDIR=/tmp/matplotlib \
    HEALTHCHECK_URL=http://127.0.0.1:8080/healthz

VOLUME ["/data"]
# Numeric: the runtime (and Kubernetes' runAsNonRoot) can tell it is not root.
USER 10001:10001

# The unsubscribe endpoint; the config must say `[unsubscribe] listen = "0.0.0.0:8080"`.
EXPOSE 8080

# The unsubscribe endpoint's /healthz answers while the event loop runs. A config without an
# [unsubscribe] table has no endpoint: run with --no-healthcheck (compose: healthcheck: disable).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]

# SIGTERM (docker stop) lets the service record what it sent and stop cleanly: give it time
# (compose: stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["python", "main.py", "run"]
