#!/usr/bin/env bash
# Local Redis + PostgreSQL for development and tests: installed from Debian when missing,
# run as plain background processes with data under a project-local run dir, on project ports.
# Usage: services.sh install|start|stop|status|env|start-redis|stop-redis|start-pg|stop-pg
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${SWITCHBOARD_RUN_DIR:-$ROOT/.run}"
REDIS_PORT="${SWITCHBOARD_REDIS_PORT:-6390}"
PG_PORT="${SWITCHBOARD_PG_PORT:-5440}"
PG_DB="${SWITCHBOARD_PG_DB:-switchboard}"
# fsync off is fine for throwaway test data; real use keeps PostgreSQL's durable defaults.
PG_FAST="${SWITCHBOARD_PG_FAST:-0}"

log() { printf '[services] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# PostgreSQL must not run as root and the postgres user must reach its data dir, which a
# checkout under a 0700 home may not allow: the data lives in a world-enterable dir then.
pg_data_parent() {
  if [ "$(id -u)" = 0 ]; then
    local key; key=$(printf '%s' "$RUN_DIR" | sha1sum | cut -c1-10)
    echo "/tmp/switchboard-pg-$key"
  else
    echo "$RUN_DIR"
  fi
}
PG_DATA="$(pg_data_parent)/pgdata"

install() {
  local need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server redis-tools)
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/switchboard.conf >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

redis_up() { redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
pg_up() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }

start_redis() {
  mkdir -p "$RUN_DIR/redis"
  if redis_up; then log "redis already up on $REDIS_PORT"; return; fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
    --appendonly yes --appendfsync everysec --save "" \
    --pidfile "$RUN_DIR/redis/redis.pid" --logfile "$RUN_DIR/redis/redis.log" --daemonize yes
  for _ in $(seq 1 100); do redis_up && break; sleep 0.05; done
  redis_up || { log "redis failed to start"; tail -20 "$RUN_DIR/redis/redis.log" >&2; exit 1; }
  log "redis up on 127.0.0.1:$REDIS_PORT (AOF everysec)"
}

pg_run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_pg() {
  local bin; bin="$(pg_bin)"
  mkdir -p "$RUN_DIR"
  if pg_up; then log "postgresql already up on $PG_PORT"; else
    local parent; parent="$(dirname "$PG_DATA")"
    mkdir -p "$parent"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$parent"; chmod 0755 "$parent"; fi
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
      pg_run "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    local opts="-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$parent -c max_connections=300"
    if [ "$PG_FAST" = 1 ]; then opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
    pg_run "$bin/pg_ctl" -D "$PG_DATA" -l "$parent/postgres.log" -o "$opts" -w -t 30 start >/dev/null
    log "postgresql up on 127.0.0.1:$PG_PORT (data $PG_DATA)"
  fi
  if ! "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "select 1 from pg_database where datname='$PG_DB'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$PG_DB"
  fi
}

stop_redis() {
  if [ -f "$RUN_DIR/redis/redis.pid" ]; then
    local pid; pid=$(cat "$RUN_DIR/redis/redis.pid" 2>/dev/null || true)
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    # the pidfile vanishes before the process exits: wait on the pid itself
    if [ -n "$pid" ]; then for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done; fi
    log "redis stopped"
  fi
}

stop_pg() {
  if [ -s "$PG_DATA/PG_VERSION" ] && pg_up; then
    pg_run "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null && log "postgresql stopped"
  fi
}

stop() { stop_redis; stop_pg; }

status() {
  redis_up && echo "redis: up 127.0.0.1:$REDIS_PORT" || echo "redis: down"
  pg_up && echo "postgresql: up 127.0.0.1:$PG_PORT" || echo "postgresql: down"
}

env_out() {
  echo "export SWITCHBOARD_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export SWITCHBOARD_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/$PG_DB"
}

case "${1:-}" in
  install) install ;;
  start) install; start_redis; start_pg ;;
  stop) stop ;;
  start-redis) start_redis ;;
  stop-redis) stop_redis ;;
  start-pg) start_pg ;;
  stop-pg) stop_pg ;;
  status) status ;;
  env) env_out ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
