#!/usr/bin/env bash
# `make bench`: installs wrk if missing, finds or starts PostgreSQL and Redis, runs bench/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PY ISV_ROOT=$(pwd)
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi
# shellcheck source=scripts/services.sh
. scripts/services.sh
services_start
trap services_stop EXIT
"$PY" -m bench.run "$@"
