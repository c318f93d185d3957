# The Careplan API: `docker compose up` runs it with PostgreSQL (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system careplan \
    && useradd --system --gid careplan --home-dir /srv/careplan --shell /usr/sbin/nologin careplan

# Install the project as a package; only its migrations stay beside it, in the working folder,
# where `careplan db upgrade` and `careplan serve` look for alembic.ini and migrations/.
COPY pyproject.toml README.md /tmp/careplan-src/
COPY app /tmp/careplan-src/app
RUN pip install /tmp/careplan-src && rm -rf /tmp/careplan-src

WORKDIR /srv/careplan
COPY alembic.ini ./
COPY migrations ./migrations

USER careplan

EXPOSE 8000
CMD ["careplan", "serve", "--host", "0.0.0.0", "--port", "8000"]
