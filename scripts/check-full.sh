#!/usr/bin/env bash
# The expensive full-tree checks, kept out of the README's everyday test command and run by CI
# after it (.ci/run): clang-tidy over all of src/, and the CTest labels too slow for every run
# (fuzz: the fuzz run of the format readers; dockerbuild: the Dockerfile builds; crosscompile:
# the aarch64 compile check of the runtime). Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"$(nproc)"
scripts/lint.sh tidy build --all
cd build
ctest --output-on-failure -j2 --timeout 3600 --no-tests=error -L 'fuzz|dockerbuild|crosscompile' "$@"
