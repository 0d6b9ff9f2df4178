# Small GGUF chat model served by llama.cpp (flat layout: /models/qwen2.5-0.5b/*.gguf).
#
# 1. The tool image:  docker build -f docker/modelbake.Dockerfile -t modelbake:local .
# 2. Lock once and commit manifests/llm-gguf/modelbake.lock (no lock is shipped: it pins the
#    hub's commits on the day you lock). Nothing but the tool image is needed:
#      docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f manifests/llm-gguf/modelbake.yaml
#    (a gated repo: add -e HF_TOKEN; a mirror: -e HF_ENDPOINT=http://mirror:8080;
#    podman run takes the same arguments; buildah: docs/bundles.md).
# 3. Build:           docker build -f docker/llm-gguf.Dockerfile -t llm-gguf .
#    through a mirror or private hub:  --build-arg HF_ENDPOINT=http://mirror:8080
#    gated/private repos:              --secret id=hf_token,src=$HOME/.cache/huggingface/token
#    (the token is a file only while the fetch runs, never in a layer). buildah bud and
#    podman build take the same flags; add --format docker there to keep the HEALTHCHECK.
ARG MODELBAKE_IMAGE=modelbake:local

# ---- stage 1: fetch exactly what the lock names, verified, and export it ----------------
FROM ${MODELBAKE_IMAGE} AS models
# Unset: the manifest's endpoint, else huggingface.co.
ARG HF_ENDPOINT
WORKDIR /bake
# modelbake.loc[k]: a missing lock reaches the check below instead of failing the COPY.
COPY manifests/llm-gguf/modelbake.yaml manifests/llm-gguf/modelbake.loc[k] ./
RUN --mount=type=secret,id=hf_token \
    if [ ! -f modelbake.lock ]; then \
      echo 'manifests/llm-gguf/modelbake.lock is missing: lock once with the tool image:' \
           'docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f manifests/llm-gguf/modelbake.yaml' >&2; \
      exit 2; \
    fi \
 && HF_TOKEN_PATH=/run/secrets/hf_token modelbake fetch --locked --cache /cache \
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
