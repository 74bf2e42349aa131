#!/usr/bin/env bash
# Runs everything Herald's CI runs: formatting, lints, a check of the fuzz targets, and the whole
# test suite.
# Works on a fresh machine of the project's kind: it installs what is missing.
#
# PostgreSQL: unless TEST_DATABASE_URL is already set, a throwaway cluster of its own is
# started (scripts/pg-up.sh, on the first free port from 55432; Debian's postgresql is
# installed if needed) and removed at the end. The store conformance suite then runs on
# SQLite and PostgreSQL, and the API suite runs a second time on PostgreSQL
# (HERALD_TEST_PG_API=0 skips that pass). Where PostgreSQL can't be had (no server, and
# not root with apt-get), everything runs on SQLite alone, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused across clones on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/herald-target}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"

# The dashboard's browser tests drive Debian's Chromium through chromedriver (tests/browser).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "== installing chromium and chromium-driver for the browser tests"
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== fuzz targets (fuzz/): they compile"
# CI checks that the targets compile against today's code (stable `cargo check`, sharing the
# build above); building and running them needs nightly and cargo-fuzz: README.md, "Fuzzing".
# HERALD_FUZZ_CHECK=0 skips this step.
if [ "${HERALD_FUZZ_CHECK:-1}" = 0 ]; then
  echo "skipped (HERALD_FUZZ_CHECK=0)"
else
  cargo fmt --check --manifest-path fuzz/Cargo.toml
  cargo check --manifest-path fuzz/Cargo.toml --bins --locked
fi

echo "== PostgreSQL"
pg_port=
stop_pg() {
  if [ -n "$pg_port" ]; then
    PGPORT=$pg_port bash scripts/pg-down.sh --purge || true
  fi
}
trap stop_pg EXIT
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "using TEST_DATABASE_URL from the environment"
elif ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 ||
  { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then
  # A cluster of our own, on a port nobody listens on (another checkout may be testing).
  for port in $(seq 55432 55499); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      pg_port=$port
      break
    fi
  done
  [ -n "$pg_port" ] || { echo "no free port for PostgreSQL in 55432-55499" >&2; exit 1; }
  started=$(date +%s%N)
  TEST_DATABASE_URL=$(PGPORT=$pg_port bash scripts/pg-up.sh)
  export TEST_DATABASE_URL
  echo "PostgreSQL at $TEST_DATABASE_URL (up in $((($(date +%s%N) - started) / 1000000)) ms)"
else
  echo "PostgreSQL is not installed and can't be (needs root and apt-get): SQLite only"
fi
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  # The PostgreSQL half of the conformance suite must run, not skip.
  export HERALD_REQUIRE_POSTGRES=1
fi

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi

if [ -n "${TEST_DATABASE_URL:-}" ] && [ "${HERALD_TEST_PG_API:-1}" != 0 ]; then
  echo "== API tests on PostgreSQL"
  if cargo nextest --version >/dev/null 2>&1; then
    HERALD_TEST_BACKEND=postgres cargo nextest run --locked --no-fail-fast \
      -E 'binary(api) and not test(store_conformance)'
  else
    HERALD_TEST_BACKEND=postgres cargo test --locked --no-fail-fast --test api -- \
      --skip store_conformance
  fi
fi

echo "== API contract (OpenAPI 3.1 validation and schemathesis against a fresh server)"
bash scripts/api-contract.sh

echo "== generated client (openapi-python-client builds a client that creates and reads a campaign)"
bash scripts/generated-client.sh
