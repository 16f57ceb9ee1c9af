# One image for the gateway, the workers and Flower (compose.yaml picks the command).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TASKGATE_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY tasks ./tasks
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home taskgate \
    && mkdir -p /data \
    && chown taskgate /data

USER taskgate
VOLUME ["/data"]
EXPOSE 8000 5555
CMD ["taskgate", "gateway", "--host", "0.0.0.0", "--port", "8000"]
