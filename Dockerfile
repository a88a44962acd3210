# mailpipe: one image for every process (api, scheduler, sender, recorder, smtp,
# migrate). The command picks the process; see docker-compose.yml.
# No configuration or secret is baked in: everything comes from the
# environment at run time (MAILPIPE_*, AWS_*).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 mailpipe \
    && useradd --system --uid 10001 --gid mailpipe --home-dir /app \
       --no-create-home --shell /usr/sbin/nologin mailpipe

WORKDIR /app

# Exactly the app lock (every file's hash checked), then mailpipe itself
# without touching its dependencies. Tests, bench and local data stay out.
COPY requirements/app.txt ./requirements/app.txt
RUN pip install --require-hashes -r requirements/app.txt
COPY pyproject.toml ./
COPY services/ ./services/
COPY shared/ ./shared/
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build *.egg-info

# The `file` transport's outbox; a named volume mounted here inherits this
# ownership, so the non-root user can write to it.
RUN mkdir -p /data/outbox && chown -R mailpipe:mailpipe /data
ENV MAILPIPE_FILE_DIR=/data/outbox

USER mailpipe:mailpipe

EXPOSE 8000 587 465

ENTRYPOINT ["mailpipe"]
CMD ["api", "--bind", "0.0.0.0:8000"]
