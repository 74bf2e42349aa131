#!/usr/bin/env bash
# Checks the OpenAPI document against the running server: validates it as OpenAPI 3.1
# (openapi-spec-validator), then runs schemathesis (all checks) against a server started here
# with a fresh SQLite database and an API key made with the CLI. Python tools are installed
# into a venv under the target dir when missing.
#
#   bash scripts/api-contract.sh      # at most 100 examples per operation and phase (~5,900
#                                     # cases, about two minutes on a loaded 2-core machine)
#   HERALD_SCHEMATHESIS_CASES=10 bash scripts/api-contract.sh    # a quick one (~1,800 cases)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/herald-target}"
cases="${HERALD_SCHEMATHESIS_CASES:-100}"

venv="$CARGO_TARGET_DIR/api-contract-venv"
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1 ||
  ! "$venv/bin/python" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  echo "== installing schemathesis and openapi-spec-validator into $venv"
  python3 -m venv "$venv" 2>/dev/null || {
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5 openapi-spec-validator==0.9.0
fi

cargo build --locked -q --bin herald
herald="$CARGO_TARGET_DIR/debug/herald"
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/herald.db"
key=$("$herald" accounts create contract --json --database "$db" |
  "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$herald" serve --database "$db" --bind "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$base/v1/openapi.json" >"$work/openapi.json"

echo "== openapi-spec-validator"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

# Twilio's webhooks answer only signed requests (403 otherwise, tested in tests/api), so
# schemathesis, which cannot sign, leaves them out.
echo "== schemathesis (at most $cases examples per operation and phase, all checks)"
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$work/openapi.json" --url "$base" \
  -H "Authorization: Bearer $key" \
  --checks all \
  --exclude-path-regex '^/webhooks/' \
  --max-examples "$cases" \
  --seed 1 \
  --no-color \
  ${HERALD_SCHEMATHESIS_ARGS:-}
