#!/usr/bin/env bash
# The README's test command (`make test`): real PostgreSQL, Redis and a Celery worker.
# Services come from DATABASE_URL / REDIS_URL, else the local ones, else throwaway ones
# (scripts/services.sh); the Celery worker is started by the test suite itself (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PY ISV_ROOT=$(pwd) ISV_TESTING=1
# shellcheck source=scripts/services.sh
. scripts/services.sh
services_tools
services_start
trap services_stop EXIT

echo "== makemigrations --check" >&2
"$PY" manage.py makemigrations --check --dry-run >/dev/null || {
  echo "a model change has no migration: run manage.py makemigrations" >&2; exit 1; }

echo "== pytest" >&2
set +e
"$PY" -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
