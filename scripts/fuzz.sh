#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: modelbake-verify's format readers and the manifest
# parser) with clang, ASan and UBSan, then runs each for a bounded time from a generated seed
# corpus.
#
#   scripts/fuzz.sh                 # 20 s per target, build in ./build-fuzz
#   FUZZ_SECONDS=5 FUZZ_BUILD_DIR=/tmp/f scripts/fuzz.sh safetensors gguf
#
# Exits 77 (ctest's "skipped") when clang++ with libFuzzer is not available, 1 when a target
# finds a crash (the input is kept under $FUZZ_BUILD_DIR/fuzz-artifacts/).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(safetensors gguf zip onnx tokenizer config manifest); fi

cxx=${FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: $cxx not found; skipping (install clang and libclang-rt-14-dev)"
  exit 77
fi
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  >"$probe_dir/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address "$probe_dir/probe.cpp" -o "$probe_dir/probe" 2>/dev/null; then
  echo "fuzz: $cxx cannot link libFuzzer; skipping (install libclang-rt-14-dev)"
  exit 77
fi

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$src" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DMODELBAKE_FUZZ=ON \
  -DMODELBAKE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

/usr/bin/python3 "$src/tests/fuzz/make_seeds.py" "$build/fuzz-seeds"
mkdir -p "$build/fuzz-artifacts"
status=0
for t in "${targets[@]}"; do
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz: $t for ${seconds}s"
  if ! "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
      "$corpus" "$build/fuzz-seeds/$t" 2>"$build/fuzz-$t.log"; then
    echo "fuzz: $t FAILED; see $build/fuzz-$t.log and $build/fuzz-artifacts/"
    tail -40 "$build/fuzz-$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$build/fuzz-$t.log" | sed "s/^/  /"
  fi
done
exit $status
