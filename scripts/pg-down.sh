#!/usr/bin/env bash
# Stops the throwaway PostgreSQL cluster that pg-up.sh started (same PGPORT / HERALD_PG_DIR).
# With --purge it also deletes the cluster's files, so the next pg-up starts empty.
set -euo pipefail

PGPORT=${PGPORT:-55432}
PGROOT=${HERALD_PG_DIR:-/var/tmp/herald-pg-$PGPORT}
PGDATA=$PGROOT/data

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PGBIN=$(pgbin)

if [ -n "$PGBIN" ] && [ -f "$PGDATA/PG_VERSION" ]; then
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  else
    "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
fi

if [ "${1:-}" = "--purge" ]; then
  rm -rf "$PGROOT"
fi
