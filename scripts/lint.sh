#!/usr/bin/env bash
# The style the repository declares, checked (CI runs both through ctest, label "lint"):
#   scripts/lint.sh format        clang-format --dry-run over every C++ file (.clang-format)
#   scripts/lint.sh tidy BUILD    clang-tidy over src/ with .clang-tidy; every finding is an error
# Fix formatting with: scripts/lint.sh format --fix
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cpp_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp'
  else
    find src tests -name '*.cpp' -o -name '*.hpp'
  fi
}

case "${1:-}" in
  format)
    if [[ "${2:-}" == "--fix" ]]; then
      cpp_files | xargs clang-format -i
      exit 0
    fi
    bad=$(cpp_files | xargs clang-format --dry-run 2>&1 | grep -o '^[^:]*:[0-9]*:[0-9]*: warning' \
          | cut -d: -f1 | sort -u || true)
    if [[ -n "$bad" ]]; then
      echo "lint: these files are not clang-formatted (run scripts/lint.sh format --fix):"
      echo "$bad"
      exit 1
    fi
    echo "lint: $(cpp_files | wc -l) files clang-formatted"
    ;;
  tidy)
    build=${2:?usage: scripts/lint.sh tidy BUILD_DIR}
    jobs=${LINT_JOBS:-$(nproc)}
    # run-clang-tidy takes regexes of compile_commands.json entries: only our sources, not the
    # tests (gtest macros trip checks that say nothing about shipped code).
    run-clang-tidy -quiet -p "$build" -j "$jobs" "^$root/src/" >"$build/clang-tidy.log" 2>&1 || {
      grep -E 'warning:|error:' "$build/clang-tidy.log" | sort -u
      echo "lint: clang-tidy found the problems above (.clang-tidy; full log $build/clang-tidy.log)"
      exit 1
    }
    echo "lint: clang-tidy clean over src/"
    ;;
  *)
    echo "usage: scripts/lint.sh format [--fix] | tidy BUILD_DIR" >&2
    exit 2
    ;;
esac
