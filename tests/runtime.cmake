# Tests of the modelbake-verify executable itself (included from tests/CMakeLists.txt).

# modelbake-verify goes into runtime images: it must not pull libcurl, libarchive or
# yaml-cpp (docs/modelbake-verify.md). Checked on the real binary with ldd.
add_test(NAME runtime.verify_links_no_network_or_archive_libs
         COMMAND ${CMAKE_COMMAND} -DBINARY=$<TARGET_FILE:modelbake-verify>
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/runtime_ldd_check.cmake)
set_tests_properties(runtime.verify_links_no_network_or_archive_libs PROPERTIES LABELS unit)

# A short fuzz run of the format readers and the manifest parser; skipped (exit 77) without clang + libFuzzer.
add_test(NAME fuzz.format_readers
         COMMAND ${CMAKE_COMMAND} -E env FUZZ_SECONDS=5 FUZZ_BUILD_DIR=${PROJECT_BINARY_DIR}/fuzz
                 ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh)
# COST: long, so started first (with lint.clang_tidy) on a fresh build without timing data.
set_tests_properties(fuzz.format_readers PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77 TIMEOUT 1800
                                                    COST 5000)

# The runtime must build on aarch64 too (x86-only kernels behind MB_X86): a syntax-only
# compile of src/runtime with Debian's cross compiler; skipped (77) without it.
add_test(NAME runtime.compiles_for_aarch64 COMMAND ${PROJECT_SOURCE_DIR}/scripts/cross_check.sh)
set_tests_properties(runtime.compiles_for_aarch64 PROPERTIES LABELS crosscompile SKIP_RETURN_CODE 77
                                                             TIMEOUT 900)
