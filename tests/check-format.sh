#!/usr/bin/env bash
# Fails when a C source or header is not formatted with the root .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
((${#files[@]})) || { echo "check-format: no C files found" >&2; exit 1; }
clang-format --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted" >&2
