#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the test suite needs answer on 127.0.0.1; start them if not.
# Reuses running servers; installs the Debian packages only where they are missing.
set -euo pipefail

PG_PORT="${CELLORG_PG_PORT:-5432}"
REDIS_PORT="${CELLORG_REDIS_PORT:-6379}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  echo "services: installing $*" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "services: $name is up"; return 0; fi
    sleep 0.5
  done
  echo "services: $name did not come up" >&2
  return 1
}

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    echo "services: PostgreSQL already answers on 127.0.0.1:$PG_PORT"; return 0
  fi
  command -v pg_ctlcluster >/dev/null || install_packages postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  if ! pg_lsclusters -h | grep -q "^$version main"; then as_root pg_createcluster "$version" main; fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL pg_isready -h 127.0.0.1 -p "$PG_PORT"
  # The suite connects as postgres over TCP without a password, as on the CI machines.
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 'select 1' >/dev/null 2>&1; then
    local hba
    hba=$(as_root su postgres -c "psql -tAc 'show hba_file'")
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root su postgres -c "psql -c 'select pg_reload_conf()'" >/dev/null
  fi
}

ensure_redis() {
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    echo "services: Redis already answers on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  command -v redis-server >/dev/null || install_packages redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
}

ensure_postgres
ensure_redis
