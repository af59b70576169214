#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (Debian packages, Kafka jars,
# Kubernetes binaries; cached in $KOS_CACHE, default ~/.cache/kos), builds the normal,
# sanitizer and fuzz builds, then runs every test but the benchmarks:
#   build/       unit + it (real Kafka) + e2e (real control plane) + style
#   build-asan/  unit + it + e2e under AddressSanitizer/UBSan/LeakSanitizer
#   build-fuzz/  the libFuzzer targets, briefly
# Extra arguments go to ctest (e.g. scripts/test.sh -R adapter).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { echo "== test.sh [$((SECONDS - t0))s] $*" >&2; }
step "installing dependencies"
scripts/install-deps.sh
tests/harness/kafka.sh install
if [[ -x scripts/install-k8s.sh ]]; then scripts/install-k8s.sh; fi
step "building"
scripts/build.sh normal asan fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
step "tests (normal build)"
ctest --test-dir build --output-on-failure -LE bench --timeout 1800 "$@"
step "tests (ASan+UBSan build)"
# The sanitizer pass runs every test that exercises kos' C code, except those whose C paths a
# shorter test already covers under ASan and whose own time is a JVM, a tool or a long load:
# the Kafka Streams side-by-side (it.processor covers the processor), the 60 s soak (its RSS
# figures mean nothing under ASan; the faults it injects are it/e2e tests of their own), the
# secured-broker matrix (it.oidc_provider covers the token code), the chart and the offline
# checks of manifests, dashboard and formatting (no C code). Keeps the suite within its budget.
NORMAL_ONLY='^(it\.processor_diff|e2e\.soak|it\.kafka_security|e2e\.chart_k8s|e2e\.chart_render|e2e\.manifests|it\.dashboard|unit\.dashboard|style\.clang-format)$'
ctest --test-dir build-asan --output-on-failure -L 'unit|it|e2e' -E "$NORMAL_ONLY" --timeout 1800 "$@"
step "fuzz smoke (libFuzzer, clang build)"
ctest --test-dir build-fuzz --output-on-failure -R '^fuzz\.' "$@"
step "all tests passed"
