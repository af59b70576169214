#!/usr/bin/env bash
# Configures and builds kos. Usage: scripts/build.sh [normal|asan|fuzz]... (default: normal)
#   normal  build/       RelWithDebInfo
#   asan    build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer
#   fuzz    build-fuzz/  clang + libFuzzer targets
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${KOS_JOBS:-2}
(($#)) || set -- normal
for kind in "$@"; do
  case $kind in
    normal) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DKOS_SANITIZE=ON) ;;
    fuzz) dir=build-fuzz; flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DKOS_FUZZ=ON) ;;
    *) echo "build.sh: unknown build kind $kind" >&2; exit 2 ;;
  esac
  echo "build.sh: building $kind in $dir" >&2
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
  # Progress lines are dropped; errors and warnings stay. pipefail: a failed build fails here.
  ninja -C "$dir" -j "$jobs" | { grep -v '^\[' || true; }
done
