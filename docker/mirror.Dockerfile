# A Hugging Face hub mirror: `modelbake serve` over a cache volume (docs/serve.md).
#   docker build -f docker/modelbake.Dockerfile -t modelbake:local .
#   docker build -f docker/mirror.Dockerfile -t modelbake-mirror:local .
#   docker run -v models:/cache -p 8080:8080 modelbake-mirror:local
# Fill the volume with `modelbake fetch --cache /cache` (see docker/compose.mirror.yaml).
FROM modelbake:local
RUN apt-get update && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
VOLUME /cache
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["curl", "-sf", "http://127.0.0.1:8080/health"]
# exec form: SIGTERM from `docker stop` reaches modelbake, which stops cleanly.
ENTRYPOINT ["modelbake", "--cache", "/cache", "serve", "--listen", "0.0.0.0:8080"]
