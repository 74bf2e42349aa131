#!/usr/bin/env bash
# Memory that strangers can make Herald hold, measured from outside (docs/ARCHITECTURE.md §9):
#   bash scripts/edge-rss.sh [HERALD_BINARY] [SCENARIO...]
# HERALD_BINARY defaults to target/release/herald; it may be any Herald build, old or new: the
# script uses only `herald serve --database --bind`, GET/POST /login and
# POST /webhooks/twilio/status, which every version has. Scenarios (default: both):
#   signin   20 failed sign-ins, one after another, each with a different 4 MiB user name and an empty
#            password (the cheapest failure for the sender), through the real form (CSRF
#            cookie and token from GET /login); VmRSS read 2 s after the last answer.
#   webhook  3 concurrent unsigned 16 MiB POSTs to /webhooks/twilio/status (a form of
#            `MessageStatus=delivered&` pairs, as a hostile sender would write it, sent whole
#            without waiting for `100 Continue`); VmHWM (the peak) read after all have ended.
# Each scenario runs against a fresh server (its own SQLite file in a temporary directory)
# so that one scenario's peak does not hide in the other's. The baseline is VmRSS after the
# server answered GET /login once. Sizes and counts can be changed with SIGNINS, NAME_MIB,
# POSTS and POST_MIB. Output: one line per scenario, `scenario=… status=… before_rss_kib=…
# after_rss_kib=… peak_hwm_kib=…` (status: the HTTP answers seen, counted; 000 is a connection
# the server closed before answering).
# SMAPS_DIR=DIR keeps /proc/PID/smaps before and after each scenario there (to see which
# mappings grew: the heap, a thread's malloc arena, a stack). Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/herald}
shift || true
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(signin webhook)
fi
signins=${SIGNINS:-20}
name_mib=${NAME_MIB:-4}
posts=${POSTS:-3}
post_mib=${POST_MIB:-16}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no Herald binary at $bin" >&2; exit 1; }

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }

start_server() {
  local name=$1
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  mkdir -p "$work/$name"
  "$bin" serve --database "sqlite://$work/$name/herald.db" --bind "127.0.0.1:$port" \
    >"$work/$name/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "$base/login" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "server did not answer on $base" >&2
  exit 1
}

stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}

# The user name's bulk, written once: `a` repeated (the same bytes urlencoded); each sign-in
# puts its own number in front, so that every attempt is a different user name.
python3 - "$work/signin-tail" "$name_mib" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"a" * (int(sys.argv[2]) * 1024 * 1024) + b"&password=&next=%2F")
EOF
python3 - "$work/webhook-body" "$post_mib" <<'EOF'
import sys
pair = b"MessageStatus=delivered&"
size = int(sys.argv[2]) * 1024 * 1024
with open(sys.argv[1], "wb") as f:
    f.write((pair * (size // len(pair) + 1))[:size])
EOF

signin() {
  start_server signin
  local before statuses=()
  before=$(kib VmRSS)
  keep_smaps signin before
  for i in $(seq 1 "$signins"); do
    local jar="$work/signin/jar-$i" token
    token=$(curl -sS -c "$jar" "$base/login" | python3 -c '
import re, sys
m = re.search(r"name=\"csrf\"[^>]*value=\"([^\"]*)\"", sys.stdin.read())
print(m.group(1) if m else "")')
    printf 'csrf=%s&username=user%s-' "$token" "$i" >"$work/signin/body"
    cat "$work/signin-tail" >>"$work/signin/body"
    statuses+=("$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -H 'Expect:' \
      -H 'Content-Type: application/x-www-form-urlencoded' \
      --data-binary "@$work/signin/body" "$base/login" 2>/dev/null || true)")
  done
  sleep 2
  report signin "$before" "${statuses[@]}"
  stop_server
}

webhook() {
  start_server webhook
  local before statuses=() jobs=()
  before=$(kib VmRSS)
  keep_smaps webhook before
  for i in $(seq 1 "$posts"); do
    (curl -sS -o /dev/null -w '%{http_code}' -H 'Expect:' \
      -H 'Content-Type: application/x-www-form-urlencoded' \
      --data-binary "@$work/webhook-body" "$base/webhooks/twilio/status" \
      >"$work/webhook/status-$i" 2>/dev/null || true) &
    jobs+=($!)
  done
  wait "${jobs[@]}"
  for i in $(seq 1 "$posts"); do statuses+=("$(cat "$work/webhook/status-$i")"); done
  sleep 1
  report webhook "$before" "${statuses[@]}"
  stop_server
}

keep_smaps() {
  if [ -n "${SMAPS_DIR:-}" ]; then
    mkdir -p "$SMAPS_DIR"
    cp "/proc/$pid/smaps" "$SMAPS_DIR/$1-$2.smaps"
  fi
}

report() {
  local scenario=$1 before=$2
  shift 2
  keep_smaps "$scenario" after
  local counted
  counted=$(printf '%s\n' "$@" | sort | uniq -c | awk '{ printf "%s%s×%s", sep, $2, $1; sep = "," }')
  echo "scenario=$scenario status=$counted before_rss_kib=$before after_rss_kib=$(kib VmRSS) peak_hwm_kib=$(kib VmHWM)"
}

for scenario in "${scenarios[@]}"; do
  case $scenario in
    signin) signin ;;
    webhook) webhook ;;
    *) echo "unknown scenario $scenario (signin, webhook)" >&2; exit 2 ;;
  esac
done
