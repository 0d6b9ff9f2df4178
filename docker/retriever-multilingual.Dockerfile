# Multilingual retriever (mmlw-retrieval-roberta-base), loaded by repo id.
#
# 1. The tool image:  docker build -f docker/modelbake.Dockerfile -t modelbake:local .
# 2. Lock once and commit manifests/retriever-multilingual/modelbake.lock (no lock is shipped: it pins the
#    hub's commits on the day you lock). Nothing but the tool image is needed:
#      docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f manifests/retriever-multilingual/modelbake.yaml
#    (a gated repo: add -e HF_TOKEN; a mirror: -e HF_ENDPOINT=http://mirror:8080;
#    podman run takes the same arguments; buildah: docs/bundles.md).
# 3. Build:           docker build -f docker/retriever-multilingual.Dockerfile -t retriever-multilingual .
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
COPY manifests/retriever-multilingual/modelbake.yaml manifests/retriever-multilingual/modelbake.loc[k] ./
RUN --mount=type=secret,id=hf_token \
    if [ ! -f modelbake.lock ]; then \
      echo 'manifests/retriever-multilingual/modelbake.lock is missing: lock once with the tool image:' \
           'docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f manifests/retriever-multilingual/modelbake.yaml' >&2; \
      exit 2; \
    fi \
 && HF_TOKEN_PATH=/run/secrets/hf_token modelbake fetch --locked --cache /cache \
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
CMD ["python", "-c", "from sentence_transformers import SentenceTransformer as S; print(S(\"sdadas/mmlw-retrieval-roberta-base\").encode([\"zapytanie: co to jest?\"]).shape)"]
