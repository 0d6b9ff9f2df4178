#!/usr/bin/env bash
# The style the repository declares, checked:
#   scripts/lint.sh format [--fix]          clang-format --dry-run over every C++ file
#   scripts/lint.sh tidy BUILD              clang-tidy (.clang-tidy, every finding an error) over
#                                           the src/ files this change touches: against the merge
#                                           base with main, plus uncommitted and untracked files;
#                                           a changed header brings every file including it
#   scripts/lint.sh tidy BUILD --all        clang-tidy over all of src/ (scripts/check-full.sh, CI)
# Both tidy modes skip a file whose clean result is cached for the same content: the key is the
# file, every header under src/, .clang-tidy, the clang-tidy version and the file's compile
# command, so any change that could alter a finding runs it again (cache:
# ${MODELBAKE_LINT_CACHE:-~/.cache/modelbake/clang-tidy}; --no-cache ignores it).
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

# The base a change is measured against: the upstream branch, else main (a worktree or a
# feature branch), else nothing (then only uncommitted and untracked files count).
merge_base() {
  local ref
  for ref in '@{upstream}' origin/main main; do
    if git rev-parse --verify -q "$ref" >/dev/null 2>&1; then
      git merge-base HEAD "$ref" 2>/dev/null && return 0
    fi
  done
  return 0
}

# src/*.cpp files the change touches, directly or through a header they include.
changed_sources() {
  local base files
  base=$(merge_base)
  files=$( {
    [[ -n "$base" ]] && git diff --name-only "$base" -- src
    git diff --name-only HEAD -- src
    git ls-files --others --exclude-standard -- src
  } | sort -u)
  local f
  for f in $files; do
    [[ -f "$f" ]] || continue
    case "$f" in
      *.cpp) echo "$f" ;;
      *.hpp) git ls-files -- 'src/*.cpp' | xargs grep -l -F "\"${f#src/}\"" || true ;;
    esac
  done | sort -u
}

tidy_key() {  # file build -> cache key
  local file=$1 build=$2
  {
    clang-tidy --version
    cat .clang-tidy
    git ls-files -s -- 'src/*.hpp' 2>/dev/null || find src -name '*.hpp' -exec sha256sum {} +
    sha256sum "$file"
    python3 -c 'import json,sys
for e in json.load(open(sys.argv[1])):
    if e["file"].endswith("/" + sys.argv[2]): print(e.get("command") or e.get("arguments"))' \
      "$build/compile_commands.json" "$file"
  } | sha256sum | cut -c1-32
}

tidy_one() {  # file build cache_dir: runs clang-tidy on one file unless its clean result is cached
  local file=$1 build=$2 cache=$3 key=""
  if [[ -n "$cache" ]]; then
    key=$(tidy_key "$file" "$build")
    [[ -f "$cache/$key" ]] && return 0
  fi
  local out
  if out=$(clang-tidy -quiet -p "$build" "$root/$file" 2>&1); then
    [[ -n "$cache" ]] && touch "$cache/$key"
    return 0
  fi
  grep -E 'warning:|error:' <<<"$out" | sort -u
  return 1
}

# clang-tidy needs each file's own compile command. A unity build's compile_commands.json names
# only its batches, so for one a non-unity tree is configured (not built: tidy reads headers
# only) beside it, with the same build type and options, and its database is used instead.
per_file_compile_db() {  # build -> the folder holding a per-file compile_commands.json
  local build=$1
  if ! grep -q '^MODELBAKE_UNITY:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    echo "$build"
    return
  fi
  local type
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
  cmake -S "$root" -B "$build/tidy-db" -DMODELBAKE_UNITY=OFF -DCMAKE_BUILD_TYPE="${type:-RelWithDebInfo}" \
    >"$build/tidy-db.log" 2>&1 || { cat "$build/tidy-db.log" >&2; exit 2; }
  echo "$build/tidy-db"
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
    build=${2:?usage: scripts/lint.sh tidy BUILD_DIR [--all] [--no-cache]}
    build=$(realpath "$build")
    shift 2
    all=0 cache=${MODELBAKE_LINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelbake/clang-tidy}
    for a in "$@"; do
      case "$a" in
        --all) all=1 ;;
        --no-cache) cache="" ;;
        *) echo "lint: unknown option $a" >&2; exit 2 ;;
      esac
    done
    [[ -n "$cache" ]] && mkdir -p "$cache"
    build=$(per_file_compile_db "$build")
    # Only our sources, not the tests (gtest macros trip checks that say nothing about shipped
    # code).
    if ((all)); then
      files=$(git ls-files -- 'src/*.cpp' 2>/dev/null || find src -name '*.cpp')
      what="all of src/"
    else
      files=$(changed_sources)
      what="the src/ files this change touches"
    fi
    count=$(grep -c . <<<"$files" || true)
    if ((count == 0)); then
      echo "lint: clang-tidy: no src/ file changed against the merge base (scripts/lint.sh tidy BUILD --all checks every file)"
      exit 0
    fi
    export -f tidy_one tidy_key
    export root
    jobs=${LINT_JOBS:-$(nproc)}
    if ! xargs -P "$jobs" -I{} bash -c 'tidy_one "$@"' _ {} "$build" "$cache" <<<"$files" \
         >"$build/clang-tidy.log" 2>&1; then
      sort -u "$build/clang-tidy.log"
      echo "lint: clang-tidy found the problems above (.clang-tidy)"
      exit 1
    fi
    echo "lint: clang-tidy clean over $what ($count files)"
    ;;
  *)
    echo "usage: scripts/lint.sh format [--fix] | tidy BUILD_DIR [--all] [--no-cache]" >&2
    exit 2
    ;;
esac
