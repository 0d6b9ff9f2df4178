# Unity builds: each target compiles its sources in batches of a few files per translation
# unit. The code is template-heavy (nlohmann/json, fmt, GoogleTest), so most of a file's compile
# time is instantiating and emitting the same templates, with debug info, again in every file;
# a batch does it once. Measured with scripts/compile-times.sh (docs/CONTRIBUTING.md has the
# numbers). Precompiled headers were measured too and rejected: with -g, GCC 12 spent longer on
# each file with the PCH than without it.
#
# A small batch keeps incremental builds short (an edit recompiles its batch only) and ccache
# still applies per batch. Sources with their own compile options (the -O3 inference kernels)
# are kept out of the batches by CMake.
#
# On by default (measured, CPU seconds of a cold build on the loaded 2-core machine, -g1:
# mb_lib 170 -> 96, mb_cli 96 -> 33, mb_base 84 -> 61, mb_serve 31 -> 22; the unit
# tests 271 one by one there, 112 as batches on a quiet machine). The rule it brings: a
# file-local name (anonymous namespace, static) must not be reused by a neighbouring file of
# the same target, since batches are consecutive files and shift as files are added. CI's
# -Werror build is a unity build and reports a collision as a "redefinition" or "ambiguous"
# error: rename, or share the helper (core/text's ascii_lower replaced four copies so).
# Because a batch can hide a missing #include (another file of the batch brought it in),
# scripts/lint.sh runs clang-tidy with each file's own compile command, which would fail on it.
option(MODELBAKE_UNITY "Unity build (batches of MODELBAKE_UNITY_BATCH sources)" ON)
set(MODELBAKE_UNITY_BATCH 6 CACHE STRING "Sources per unity translation unit")
if(MODELBAKE_UNITY)
  set(CMAKE_UNITY_BUILD ON)
  set(CMAKE_UNITY_BUILD_BATCH_SIZE ${MODELBAKE_UNITY_BATCH})
  # A batch #includes its .cpp files, so GCC sees each as a header and warns when a class in
  # one has a member whose type is file-local (anonymous namespace). That is only true of the
  # batch, not of the code: the same file compiled alone is fine.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-subobject-linkage)
  endif()
endif()
