# syntax=docker/dockerfile:1
# Sentence-transformers embedder (all-MiniLM-L6-v2), loaded by repo id from HF_HUB_CACHE=/models.
#
# Once, with network:  modelbake lock -f manifests/embedder/modelbake.yaml   (commit the lock)
# Build:               docker build -f docker/modelbake.Dockerfile -t modelbake:local .
#                      docker build -f docker/embedder.Dockerfile -t embedder .
# Gated/private repos: add  --secret id=hf_token,env=HF_TOKEN  to the second build.
ARG MODELBAKE_IMAGE=modelbake:local

# ---- stage 1: fetch exactly what the lock names, verified, and export it ----------------
FROM ${MODELBAKE_IMAGE} AS models
WORKDIR /bake
COPY manifests/embedder/modelbake.yaml manifests/embedder/modelbake.lock ./
RUN --mount=type=secret,id=hf_token,env=HF_TOKEN \
    modelbake fetch --locked --cache /cache \
 && modelbake export --cache /cache -o /out/models --format dir --layout hub --no-sync

# ---- stage 2: the service, offline ------------------------------------------------------
FROM python:3.11-slim-bookworm
RUN pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir "sentence-transformers>=3,<4"
COPY --from=models /out/models /models
COPY --from=models /usr/local/bin/modelbake-verify /usr/local/bin/modelbake-verify
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_CACHE=/models
# Fail the build if anything in /models differs from the lock (full check), then stamp /models.
RUN ["modelbake-verify", "--stamp", "/models"]
# The health check hashes nothing: it compares every file with the stamp and reads headers.
HEALTHCHECK --interval=30s --timeout=15s CMD ["modelbake-verify", "--health", "--timeout", "10s", "/models"]
CMD ["python", "-c", "from sentence_transformers import SentenceTransformer as S; print(S(\"sentence-transformers/all-MiniLM-L6-v2\").encode([\"hello\"]).shape)"]
