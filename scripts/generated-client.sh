#!/usr/bin/env bash
# Checks that a standard generator makes a working client from the OpenAPI document: generates
# a Python client with openapi-python-client (pinned) from the document a fresh server serves,
# installs it, and runs scripts/generated-client.py against that server (SQLite, the built-in
# simulator, an API key made with the CLI): it adds a number and an agent, previews and creates
# a campaign with a template and variables, and reads it back until it is done. Every answer
# is read by the generated models. A warning from the generator about an operation it cannot
# generate fails the check unless it is one listed in `expected_skips` below.
# Python tools are installed into a venv under the target dir when missing.
#
#   bash scripts/generated-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/herald-target}"

venv="$CARGO_TARGET_DIR/generated-client-venv"
generator_version=0.29.1
if ! "$venv/bin/openapi-python-client" --version 2>/dev/null | grep -q "$generator_version"; then
  echo "== installing openapi-python-client $generator_version into $venv"
  python3 -m venv "$venv" 2>/dev/null || {
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
  "$venv/bin/pip" install -q --disable-pip-version-check "openapi-python-client==$generator_version"
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
key=$("$herald" accounts create generated-client --json --database "$db" |
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

echo "== openapi-python-client $generator_version generate"
# No post-generation hooks (they run ruff, which is not needed to build the client).
printf 'post_hooks: []\n' >"$work/generator.yaml"
"$venv/bin/openapi-python-client" generate --path "$work/openapi.json" \
  --output-path "$work/client" --meta setup --config "$work/generator.yaml" 2>&1 |
  tee "$work/generate.log"
# The generator supports JSON, form and multipart bodies only: the two upload operations
# (CSV and pasted text) are left out of the client, and said so. Anything else it skips
# means the document says something it cannot read.
expected_skips='^(POST /v1/consents/import|POST /v1/sms/recipients/parse)$'
skipped=$(grep -o 'WARNING parsing [A-Z]* [^ ]*' "$work/generate.log" | sed 's/WARNING parsing //' || true)
unexpected=$(printf '%s\n' "$skipped" | grep -v -E "$expected_skips" | grep . || true)
if [ -n "$unexpected" ]; then
  echo "the generator left out operations it should have generated:" >&2
  printf '%s\n' "$unexpected" >&2
  exit 1
fi
[ -d "$work/client/herald_client" ] || { echo "no client was generated" >&2; exit 1; }

echo "== install the generated client"
"$venv/bin/pip" install -q --disable-pip-version-check "$work/client"
"$venv/bin/python" -m compileall -q "$work/client/herald_client" >/dev/null

echo "== create and read a campaign with the generated client"
"$venv/bin/python" scripts/generated-client.py "$base" "$key" || {
  echo "--- server log" >&2
  tail -50 "$work/serve.log" >&2
  exit 1
}
