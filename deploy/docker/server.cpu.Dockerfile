# LargeForge inference server, CPU variant: lf-core + lf-backend-hf (transformers).
# Build from the repository root:
#   docker build -f deploy/docker/server.cpu.Dockerfile -t largeforge/server:cpu .
# Run (the model directory is mounted; keys come from the environment):
#   docker run -p 8000:8000 -v $PWD/model:/models/model:ro \
#     -e LF_HF_API_KEYS='["<a key of 32+ characters>"]' largeforge/server:cpu
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LARGEFORGE_HOME=/home/lf/.cache/largeforge \
    HF_HUB_OFFLINE=1

RUN groupadd --system --gid 10001 lf \
    && useradd --system --uid 10001 --gid lf --create-home --home-dir /home/lf lf

WORKDIR /opt/largeforge
COPY constraints.txt ./
COPY core ./core
COPY plugins/lf-backend-hf ./plugins/lf-backend-hf

# CPU wheels of torch come from PyTorch's CPU index; everything else is pinned by constraints.txt.
RUN pip install --index-url https://download.pytorch.org/whl/cpu -c constraints.txt torch \
    && pip install -c constraints.txt "./core[serve]" ./plugins/lf-backend-hf

USER 10001:10001
EXPOSE 8000

# Liveness: /health answers 200 while the process can serve (see /ready for readiness).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]

ENTRYPOINT ["lf", "serve", "hf"]
CMD ["--model", "/models/model", "--host", "0.0.0.0", "--port", "8000"]
