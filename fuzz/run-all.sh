#!/usr/bin/env bash
# Runs every fuzz target in turn, one process at a time, at the lowest priority:
#   bash fuzz/run-all.sh [SECONDS_PER_TARGET] [TARGET...]
# (default 600 s, every target). Each target's corpus grows in fuzz/corpus/<target>; a crash
# is saved in fuzz/artifacts/<target>/ and the script goes on with the next target. Logs
# are in $FUZZ_LOG_DIR/<target>/fuzz-0.log (default /tmp/herald-fuzz); their last lines show
# the execs and coverage. Needs nightly and cargo-fuzz; builds with FUZZ_TARGET_DIR (default
# ${CARGO_TARGET_DIR:-target}-fuzz). FUZZ_NICE sets the niceness of the fuzzers (default 19).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(campaign_json import template phone segments signature)
fi
target_dir=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-target}-fuzz}
logs=${FUZZ_LOG_DIR:-/tmp/herald-fuzz}
niceness=${FUZZ_NICE:-19}
mkdir -p "$logs"
# No sanitizer: Herald has no unsafe code, and a run does about twice the execs without it.
cargo +nightly fuzz build --sanitizer none --codegen-units 16 --target-dir "$target_dir" || exit 1
root=$PWD
target_dir=$(cd "$target_dir" && pwd)
bin="$target_dir/x86_64-unknown-linux-gnu/release"
for target in "${targets[@]}"; do
  # -jobs=1 runs the fuzzer in a child process whose output libFuzzer writes to fuzz-0.log
  # in the current directory: one directory per target. -timeout=60: at a low priority on a busy
  # machine an input can wait seconds for a CPU, and a shorter limit reports false hangs.
  mkdir -p "$logs/$target" "fuzz/artifacts/$target" "fuzz/corpus/$target"
  echo "== $target: ${seconds}s, log in $logs/$target/fuzz-0.log"
  (cd "$logs/$target" && nice -n "$niceness" "$bin/$target" "$root/fuzz/corpus/$target" \
    -artifact_prefix="$root/fuzz/artifacts/$target/" -jobs=1 -workers=1 \
    -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 >"$logs/$target/driver.log" 2>&1)
  echo "   exit $?; $(grep -E '^#[0-9]+' "$logs/$target/fuzz-0.log" | tail -1)"
done
