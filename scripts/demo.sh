#!/usr/bin/env bash
# `make demo`: the main job on the embedded defaults, step by step. Each step is a command
# you can run on its own. Artifacts go under runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${LF_DEMO_DIR:-runs/demo}
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "What is installed" lf plugins
step "Is this machine ready" lf doctor || true
python - "$OUT" <<'PY'
import sys
from lf.testing import write_samples
for fmt in ("alpaca", "dpo"):
    write_samples(f"{sys.argv[1]}/{fmt}.jsonl", fmt, 200)
PY
step "Validate a dataset" lf data validate "$OUT/alpaca.jsonl"
step "Convert it to OpenAI messages" lf data convert "$OUT/alpaca.jsonl" "$OUT/messages.jsonl" --to messages
step "Split train/val" lf data split "$OUT/messages.jsonl" --out-dir "$OUT/split" --ratios 0.9,0.1
step "Measure it" lf data stats "$OUT/split/train.jsonl"
step "Preference data too" lf data validate "$OUT/dpo.jsonl"
printf '\nDone. Artifacts in %s/\n' "$OUT"
