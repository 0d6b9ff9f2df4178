# The modelbake tool image used by the model stages of the service Dockerfiles.
#   docker build -f docker/modelbake.Dockerfile -t modelbake:local .
#   buildah bud -f docker/modelbake.Dockerfile -t modelbake:local .
# The build stage's packages must cover every find_package in cmake/Dependencies.cmake
# (tests/integration/test_dockerfile_deps.py checks it). The compiler cache lives in a
# cache mount, so a rebuild after a source change recompiles only what changed.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates ccache \
      libcurl4-openssl-dev libssl-dev libarchive-dev libzstd-dev \
      libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libmicrohttpd-dev liblz4-dev \
      libfmt-dev libspdlog-dev \
 && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY src /src/src
RUN --mount=type=cache,target=/ccache \
    export CCACHE_DIR=/ccache \
 && cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DMODELBAKE_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /usr/local --strip \
 && ccache --show-stats

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libarchive13 libyaml-cpp0.7 libmicrohttpd12 liblz4-1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/modelbake /usr/local/bin/modelbake-verify /usr/local/bin/
ENTRYPOINT ["modelbake"]
