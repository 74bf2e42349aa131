#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for Herald's tests (no docker) and prints its URL.
#
#   bash scripts/pg-up.sh              # → postgres://postgres@127.0.0.1:55432/postgres
#   PGPORT=55433 bash scripts/pg-up.sh # another cluster beside it
#
# It listens on 127.0.0.1 only, trusts local connections (tests only!) and trades
# durability for speed (fsync, synchronous_commit and full_page_writes off), with a
# production-sized cache (shared_buffers 1 GB, max_wal_size 4 GB: BENCHMARKS.md's
# PostgreSQL appends were measured on it). Debian's
# `postgresql` package is installed when no server is present (needs root and apt-get).
# Idempotent: a cluster already running on the port is reused. Stop it with pg-down.sh.
set -euo pipefail

PGPORT=${PGPORT:-55432}
PGROOT=${HERALD_PG_DIR:-/var/tmp/herald-pg-$PGPORT}
PGDATA=$PGROOT/data

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

if [ -z "$(pgbin)" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "pg-up: PostgreSQL is not installed, and installing it needs root and apt-get" >&2
    exit 1
  fi
  echo "pg-up: installing Debian's postgresql package" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
PGBIN=$(pgbin)

# The server refuses to run as root: as root, run it as the `postgres` OS user.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi

mkdir -p "$PGROOT"
chown "$owner" "$PGROOT"
chmod 700 "$PGROOT"

if [ ! -f "$PGDATA/PG_VERSION" ]; then
  as_owner "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$PGROOT/initdb.log" 2>&1 || {
    cat "$PGROOT/initdb.log" >&2
    exit 1
  }
fi

if ! as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 -l "$PGROOT/server.log" \
    -o "-p $PGPORT -k $PGROOT -c listen_addresses=127.0.0.1 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
        -c shared_buffers=1GB -c max_wal_size=4GB" \
    start >/dev/null || {
    tail -n 20 "$PGROOT/server.log" >&2
    exit 1
  }
fi

echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
