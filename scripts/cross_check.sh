#!/usr/bin/env bash
# Checks that the runtime (modelbake-verify's src/runtime)
# compiles for aarch64 with Debian's cross compiler: syntax and semantic analysis only
# (-fsyntax-only), so it stays cheap; x86-only code (AVX2 target attributes, immintrin.h)
# must sit behind MB_X86 guards. Exits 77 (ctest's "skipped") without the cross compiler.
#
#   scripts/cross_check.sh [FILE...]   (default: every src/runtime source; CROSS_CXX=...)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cxx=${CROSS_CXX:-aarch64-linux-gnu-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "cross_check: $cxx not found; skipping (apt-get install g++-aarch64-linux-gnu)"
  exit 77
fi
# Header-only libraries and OpenSSL's headers are architecture-independent apart from
# opensslconf.h, which the aarch64 build takes from the host's multiarch folder (only its
# feature macros matter for a syntax check).
# The base layers under the runtime are plain C++ with no target-specific code; checking
# the runtime's own sources keeps this at about a CPU-minute.
if (($# > 0)); then files="$*"; else files=$(find "$src/src/runtime" -name '*.cpp' | sort); fi
status=0
for f in $files; do
  if ! "$cxx" -std=c++20 -fsyntax-only -Wall -I"$src/src" -idirafter /usr/include \
      -idirafter /usr/include/x86_64-linux-gnu -DFMT_HEADER_ONLY -DSPDLOG_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL "$f"; then
    echo "cross_check: ${f#$src/} does not compile for aarch64"
    status=1
  fi
done
[[ $status == 0 ]] && echo "cross_check: $(wc -w <<<"$files") files compile for aarch64"
exit $status
