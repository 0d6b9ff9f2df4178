#!/usr/bin/env bash
# One command from a fresh clone to a built modelbake: installs Debian packages,
# configures and builds (Release with debug info) into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# CI builds treat compiler warnings as errors (.ci/run sets MODELBAKE_WERROR=ON).
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELBAKE_WERROR="${MODELBAKE_WERROR:-OFF}"
cmake --build build -j"$(nproc)"
echo "setup: built build/modelbake and build/modelbake-verify"
