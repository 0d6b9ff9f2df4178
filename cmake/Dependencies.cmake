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
# modelbake serve: libmicrohttpd (Debian libmicrohttpd-dev; docs/ARCHITECTURE.md says why).
find_package(PkgConfig REQUIRED)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.75)
if(MODELBAKE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
