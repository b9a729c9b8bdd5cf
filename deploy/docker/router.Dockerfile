# LargeForge router: lf-core + lf-router-hybrid (keyword, neural MiniLM and hybrid routing).
# The router is stateless apart from its expert registry - a file (mounted), or Redis for
# replicas on several machines - so it scales horizontally; it needs no GPU (MiniLM runs a
# query in a few milliseconds on a CPU).
#   docker build -f deploy/docker/router.Dockerfile -t largeforge/router .
#   docker run -p 8080:8080 -v $PWD/experts.yaml:/config/experts.yaml:ro \
#     -e LF_HYBRID_API_KEYS='["<a key of 32+ characters>"]' largeforge/router
#   docker run -p 8080:8080 -e LF_EXPERTS_FILE=redis://redis:6379/0 -e LF_HYBRID_API_KEYS=... largeforge/router
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LF_EXPERTS_FILE=/config/experts.yaml \
    HF_HUB_OFFLINE=1

RUN groupadd --system --gid 10001 lf \
    && useradd --system --uid 10001 --gid lf --create-home --home-dir /home/lf lf

WORKDIR /opt/largeforge
COPY constraints.txt ./
COPY core ./core
COPY plugins/lf-router-hybrid ./plugins/lf-router-hybrid

RUN pip install --index-url https://download.pytorch.org/whl/cpu -c constraints.txt torch \
    && pip install -c constraints.txt "./core[serve,redis]" ./plugins/lf-router-hybrid

USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status != 200)"]

ENTRYPOINT ["lf", "serve", "router"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
