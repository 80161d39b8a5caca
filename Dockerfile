# The billing worker image: `docker compose build worker` (see docker-compose.yml).
# python:3.11-slim, dependencies from uv.lock only (uv sync --frozen --no-dev), runs as a non-root
# user, `python worker.py` as its command. Configuration comes from the environment (.env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:${PATH}"

RUN pip install --no-cache-dir "uv>=0.5,<1" \
    && groupadd --system --gid 10001 billing \
    && useradd --system --uid 10001 --gid billing --home-dir /app --shell /usr/sbin/nologin billing

WORKDIR /app

# Dependencies first (cached while only the code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY billing ./billing
COPY billing_db ./billing_db
COPY billing_service ./billing_service
COPY billing_client ./billing_client
COPY activities ./activities
COPY workflows ./workflows
COPY worker.py ./
RUN uv sync --frozen --no-dev && chown -R billing:billing /app

USER billing

# Prometheus metrics (METRICS_PORT); the compose health check reads /metrics.
EXPOSE 9464

# SIGTERM makes the worker finish in-flight activities (up to 30 s) before it exits.
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
