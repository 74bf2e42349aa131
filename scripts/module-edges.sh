#!/usr/bin/env bash
# Prints which top-level module of src/ imports which (from `crate::name` paths, including
# grouped `use crate::{a, b}`), one line per module, so layering can be checked by eye or in
# review: `bash scripts/module-edges.sh [SRC_DIR]`.
set -euo pipefail
src="${1:-src}"
for entry in "$src"/*; do
  name=$(basename "$entry" .rs)
  [ "$name" = main ] || [ "$name" = lib ] && continue
  files=$(find "$src/$name" "$src/$name.rs" -name '*.rs' 2>/dev/null || true)
  [ -n "$files" ] || continue
  # shellcheck disable=SC2086
  deps=$( { grep -hoE 'crate::[a-z_]+' $files | sed 's/crate:://';
            grep -hoE 'crate::\{[a-z_, ]+' $files | sed 's/crate::{//' | tr ',' '\n' | tr -d ' '; } \
          | sort -u | grep -vx "$name" | tr '\n' ' ' || true)
  printf '%-10s -> %s\n' "$name" "$deps"
done | sort -u
