# shellcheck shell=bash
# Source me: exports DATABASE_URL and REDIS_URL for the test suite.
#   1. values already set in the environment win;
#   2. else the machine's own PostgreSQL / Redis on 127.0.0.1 when they answer;
#   3. else throwaway instances under var/services (installing redis-server / postgresql
#      with apt-get where the binaries are missing). `services_stop` stops what we started.
# Never touches a service it did not start.

ISV_ROOT=${ISV_ROOT:-$(pwd)}
SERVICES_DIR="$ISV_ROOT/var/services"
PY=${PY:-python3}
STARTED_PG=""
STARTED_REDIS=""

_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

_apt_install() {
  echo "services: installing $* with apt-get" >&2
  _as_root apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq "$@" >/dev/null
}

_free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

_pg_ok() {
  "$PY" - "$1" <<'PYEOF' 2>/dev/null
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1], connect_timeout=2)
conn.cursor().execute("select 1")
PYEOF
}

_redis_ok() {
  "$PY" - "$1" <<'PYEOF' 2>/dev/null
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PYEOF
}

_pg_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/$name" ] && { echo "$dir/$name"; return; }
  done
  return 1
}

_start_postgres() {
  local initdb pg_ctl port data owner run
  initdb=$(_pg_bin initdb) || { _apt_install postgresql; initdb=$(_pg_bin initdb); }
  pg_ctl=$(_pg_bin pg_ctl)
  port=$(_free_port)
  data="$SERVICES_DIR/pg"
  mkdir -p "$SERVICES_DIR"
  run=()
  if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
    owner=postgres
    id "$owner" >/dev/null 2>&1 || useradd --system --no-create-home "$owner"
    chown "$owner" "$SERVICES_DIR"
    run=(runuser -u "$owner" --)
  fi
  rm -rf "$data"
  "${run[@]}" "$initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${run[@]}" "$pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  STARTED_PG="$data"
  STARTED_PG_CTL="$pg_ctl"
  STARTED_PG_RUN="${run[*]}"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "services: started a throwaway PostgreSQL on port $port" >&2
}

_start_redis() {
  local port
  command -v redis-server >/dev/null 2>&1 || _apt_install redis-server
  port=$(_free_port)
  mkdir -p "$SERVICES_DIR"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$SERVICES_DIR" --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" >/dev/null
  for _ in $(seq 50); do _redis_ok "redis://127.0.0.1:$port/0" && break; sleep 0.1; done
  STARTED_REDIS="$SERVICES_DIR/redis.pid"
  export REDIS_URL="redis://127.0.0.1:$port/0"
  echo "services: started a throwaway Redis on port $port" >&2
}

services_tools() {
  # Programs the tests start privately (tests/support/processes.py): a pgbouncer in transaction
  # mode, and redis-server for the tests that stop their own Redis.
  if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then _apt_install pgbouncer; fi
  command -v redis-server >/dev/null 2>&1 || _apt_install redis-server
}

services_start() {
  if [ -z "${DATABASE_URL:-}" ]; then
    for candidate in "postgres://postgres@127.0.0.1:5432/postgres" "postgres://$(id -un)@127.0.0.1:5432/postgres"; do
      if _pg_ok "$candidate"; then export DATABASE_URL="$candidate"; break; fi
    done
    [ -n "${DATABASE_URL:-}" ] || _start_postgres
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    if _redis_ok "redis://127.0.0.1:6379/1"; then export REDIS_URL="redis://127.0.0.1:6379/1"; else _start_redis; fi
  fi
  echo "services: PostgreSQL ${DATABASE_URL%%@*}@… ; Redis ${REDIS_URL}" | sed -E 's#//[^:@/]+:[^@]+@#//***@#' >&2
}

services_stop() {
  if [ -n "$STARTED_REDIS" ] && [ -f "$STARTED_REDIS" ]; then
    kill "$(cat "$STARTED_REDIS")" 2>/dev/null || true
  fi
  if [ -n "$STARTED_PG" ]; then
    # shellcheck disable=SC2086
    $STARTED_PG_RUN "$STARTED_PG_CTL" -D "$STARTED_PG" -m fast stop >/dev/null 2>&1 || true
  fi
}
