#!/usr/bin/env bash
# All benchmarks, one after the other (never part of scripts/test.sh). Each prints medians and
# ratios against its anchor measured in the same run, and writes tests/bench/results/*.json.
# Run on a quiet machine; the build must exist (scripts/build.sh). bench_keda builds KEDA once
# (scripts/install-keda.sh, Go, ~20 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
for b in adapter datagen processor k8s node faults keda; do
  echo "== bench_$b" >&2
  /usr/bin/python3 "tests/bench/bench_$b.py" "$@"
done
