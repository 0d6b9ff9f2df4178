# syntax=docker/dockerfile:1
# The modelbake tool image used by the model stages of the service Dockerfiles.
#   docker build -f docker/modelbake.Dockerfile -t modelbake:local .
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libcurl4-openssl-dev libssl-dev libarchive-dev libzstd-dev \
      libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY src /src/src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DMODELBAKE_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /usr/local --strip

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libarchive13 libyaml-cpp0.7 libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/modelbake /usr/local/bin/modelbake-verify /usr/local/bin/
ENTRYPOINT ["modelbake"]
