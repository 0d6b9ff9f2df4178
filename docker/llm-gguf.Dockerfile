# syntax=docker/dockerfile:1
# Small GGUF chat model served by llama.cpp (flat layout: /models/qwen2.5-0.5b/*.gguf).
#
# Once, with network:  modelbake lock -f manifests/llm-gguf/modelbake.yaml   (commit the lock)
# Build:               docker build -f docker/modelbake.Dockerfile -t modelbake:local .
#                      docker build -f docker/llm-gguf.Dockerfile -t llm-gguf .
# Gated/private repos: add  --secret id=hf_token,env=HF_TOKEN  to the second build.
ARG MODELBAKE_IMAGE=modelbake:local

# ---- stage 1: fetch exactly what the lock names, verified, and export it ----------------
FROM ${MODELBAKE_IMAGE} AS models
WORKDIR /bake
COPY manifests/llm-gguf/modelbake.yaml manifests/llm-gguf/modelbake.lock ./
RUN --mount=type=secret,id=hf_token,env=HF_TOKEN \
    modelbake fetch --locked --cache /cache \
 && modelbake export --cache /cache -o /out/models --format dir --layout flat --no-sync

# ---- stage 2: the service, offline ------------------------------------------------------
FROM ghcr.io/ggml-org/llama.cpp:server
# modelbake-verify needs only the C++ runtime and libcrypto (OpenSSL 3) from the base image.
COPY --from=models /out/models /models
COPY --from=models /usr/local/bin/modelbake-verify /usr/local/bin/modelbake-verify
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Fail the build if anything in /models differs from the lock (full check), then stamp /models.
RUN ["modelbake-verify", "--stamp", "/models"]
# The health check hashes nothing: it compares every file with the stamp and reads headers.
HEALTHCHECK --interval=30s --timeout=15s CMD ["modelbake-verify", "--health", "--timeout", "10s", "/models"]
CMD ["-m", "/models/qwen2.5-0.5b/qwen2.5-0.5b-instruct-q4_k_m.gguf", "--host", "0.0.0.0", "--port", "8080"]
