# One image for the gateway, the workers and Flower (compose.yaml picks the command).
# Built from the lock file and the wheel: the image runs exactly what a user installs.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY tasks ./tasks
COPY frontend/src ./frontend/src
COPY frontend/templates ./frontend/templates
RUN pip wheel --no-cache-dir --no-deps . -w /wheels

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TASKGATE_DATA_DIR=/data

# The lock of the dependencies with the postgres extra: psycopg for DATABASE_URL=postgres://.
COPY requirements/base.txt /tmp/requirements.txt
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --require-hashes -r /tmp/requirements.txt \
    && pip install --no-deps /tmp/wheels/taskgate-*.whl \
    && rm -rf /tmp/wheels /tmp/requirements.txt \
    && useradd --system --uid 10001 --no-create-home taskgate \
    && mkdir -p /data \
    && chown taskgate /data

USER taskgate
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000 5555
CMD ["taskgate", "gateway", "--host", "0.0.0.0", "--port", "8000"]
