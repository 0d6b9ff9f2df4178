# Every dependency comes from a Debian package (scripts/install-deps.sh); nothing is
# downloaded at build time.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
# Logging: spdlog and fmt used header-only (fmt::fmt-header-only rather than the shared
# libfmt that spdlog's own targets link), so neither binary gains a shared library and
# modelbake-verify stays libcrypto-only (docs/ARCHITECTURE.md).
find_package(fmt 9 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
add_library(mb_logging INTERFACE)
get_target_property(SPDLOG_INCLUDES spdlog::spdlog_header_only INTERFACE_INCLUDE_DIRECTORIES)
target_include_directories(mb_logging SYSTEM INTERFACE ${SPDLOG_INCLUDES})
target_compile_definitions(mb_logging INTERFACE SPDLOG_FMT_EXTERNAL)
target_link_libraries(mb_logging INTERFACE fmt::fmt-header-only Threads::Threads)
# modelbake serve: libmicrohttpd (Debian libmicrohttpd-dev; docs/ARCHITECTURE.md says why).
find_package(PkgConfig REQUIRED)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.75)
# Xet chunk records are LZ4 frames (Debian liblz4-dev; src/xet/chunk.cpp).
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
if(MODELBAKE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
