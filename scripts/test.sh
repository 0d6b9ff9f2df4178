#!/usr/bin/env bash
# The test command (README "Test"): builds if needed, then runs every unit and integration
# test with CTest, except the slow labels that scripts/check-full.sh runs (fuzz, dockerbuild).
# Extra arguments go to ctest (e.g. -L unit, -R fetch).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j2 --timeout 900 -LE 'fuzz|dockerbuild' "$@"
