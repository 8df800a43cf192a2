# The project's commands (README): run, test, lint, bench. They work on a fresh clone with
# Python 3.11 and Debian's package manager; the virtualenv is created on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTHON ?= python3

.PHONY: run test lint format bench venv migrate clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed: installing python3-venv" >&2; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv; fi; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

## Run the service (embedded defaults unless DATABASE_URL / REDIS_URL are set) on 127.0.0.1:$(PORT).
run: venv
	$(PY) manage.py migrate --noinput
	@if [ -n "$$DJANGO_SUPERUSER_USERNAME" ]; then $(PY) manage.py createsuperuser --noinput 2>/dev/null || true; fi
	@rm -rf var/prometheus && mkdir -p var/prometheus
	@# One random secret key for the whole run, shared by every worker (sessions stay valid across them).
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')}" \
	PORT=$(PORT) PROMETHEUS_MULTIPROC_DIR=var/prometheus $(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi:application

## Run every test against real PostgreSQL, Redis and a Celery worker (started where missing).
test: venv
	PY=$(PY) scripts/test.sh $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Throughput and latency against the floor, in one run (bench/README in the main README).
bench: venv
	PY=$(PY) scripts/bench.sh $(ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache
