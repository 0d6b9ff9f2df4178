#!/usr/bin/env bash
# The test command (README "Test"): builds if needed, then runs every unit and integration
# test with CTest. Extra arguments go to ctest (e.g. -L unit, -R fetch). The slow labels that
# scripts/check-full.sh runs (fuzz; dockerbuild, minutes; crosscompile, the aarch64 compile check) are left out unless an argument names
# one of them; .ci/run runs check-full.sh after this command.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"$(nproc)"
cd build
exclude=(-LE 'fuzz|dockerbuild|crosscompile')
for arg in "$@"; do
  if [[ "$arg" == *dockerbuild* || "$arg" == *fuzz* || "$arg" == *crosscompile* ]]; then exclude=(); fi
done
# Two tests per core: most integration tests wait on servers, slow-upstream faults and timeouts
# (a whole run keeps 2 cores about a quarter busy), so -j2 left them idle; the tests are written
# to hold under load (bounded waits, OS-chosen ports). MB_TEST_JOBS overrides.
jobs=${MB_TEST_JOBS:-$(($(nproc) * 2))}
ctest --output-on-failure -j"$jobs" --timeout 900 "${exclude[@]}" "$@"
