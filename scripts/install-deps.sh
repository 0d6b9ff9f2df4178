#!/usr/bin/env bash
# Installs every Debian package modelbake needs to build, test and benchmark.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git ccache clang libclang-rt-14-dev clang-format clang-tidy
  g++-aarch64-linux-gnu  # runtime.compiles_for_aarch64 (scripts/cross_check.sh)
  libcurl4-openssl-dev libssl-dev libarchive-dev libzstd-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  libmicrohttpd-dev
  liblz4-dev
  # integration tests: real peers nobody here wrote
  docker-registry skopeo buildah umoci apache2-utils
  # the Dockerfile builds (ctest -L dockerbuild): a debian:bookworm-slim base from the archive
  mmdebstrap
  # runtimes that mount bundles (podman image mounts, a busybox base), schema validation
  podman busybox-static python3-jsonschema
  curl aria2 iproute2 util-linux zstd
  python3 python3-numpy python3-torch
  # the test hub's Xet CAS: LZ4 frames and keyed BLAKE3 (tests/hub/xetstore.py)
  python3-lz4 b3sum
  # benchmarks
  hyperfine time nginx-light
  # tests that observe syscalls (export --no-sync)
  strace
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js (for the @huggingface/hub compatibility test): any node >= 18 with npm will do;
# a machine image may already carry a non-Debian build that conflicts with Debian's npm.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
