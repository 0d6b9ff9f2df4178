#!/usr/bin/env bash
# The expensive full-tree checks, kept out of the README's everyday test command and run by CI
# after it (.ci/run): clang-tidy over all of src/, and the CTest labels too slow for every run
# (fuzz: the fuzz run of the format readers; dockerbuild: the Dockerfile builds; crosscompile:
# the aarch64 compile check of the runtime), and the cache door's property test over its full
# matrix (every command x every planted position x every kind of plant; the everyday run takes a
# seeded plant per command and position). Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"$(nproc)"
scripts/lint.sh tidy build --all
cd build
ctest --output-on-failure -j2 --timeout 3600 --no-tests=error -L 'fuzz|dockerbuild|crosscompile' "$@"
MB_DOOR_PROPERTY_FULL=1 ctest --output-on-failure --timeout 3600 --no-tests=error \
  -R '^integration\.test_cache_door_property$'
