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
# Off by default for now: measured on one folder (src/fetch, 11 files) a unity batch took about
# 30% less CPU than the files one by one, but the tree does not build as unity batches yet. File-
# local helpers collide inside a batch (two `bad()` in runtime/formats), a few names shadow each
# other (-Wshadow, an error in CI) and types in anonymous namespaces end up in other files'
# classes (-Wsubobject-linkage). Those have to be renamed before this can be on.
option(MODELBAKE_UNITY "Unity build (batches of MODELBAKE_UNITY_BATCH sources)" OFF)
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
