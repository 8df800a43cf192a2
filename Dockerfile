# syntax=docker/dockerfile:1
# The KooGallery seller service: gunicorn (web), celery worker and beat from one image.
# Build: docker build -t koogallery-isv .   Run: see compose.yaml and the README.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    ISV_VAR_DIR=/app/var \
    DJANGO_STATIC_ROOT=/app/static \
    PORT=8000 \
    BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN groupadd --system --gid 10001 isv && useradd --system --uid 10001 --gid isv --home-dir /app isv
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=isv:isv . .
# Static files for the admin, collected at build time (embedded settings: no secrets needed).
RUN python manage.py collectstatic --noinput -v 0 && mkdir -p /app/var && chown -R isv:isv /app/var /app/static
USER isv
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request, os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=2)"
# Fresh multiprocess metrics directory on every start (stale files from dead workers skew counts).
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn -c config/gunicorn.py config.wsgi:application"]
