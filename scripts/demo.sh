#!/usr/bin/env bash
# `make demo`: train -> serve -> route on the embedded default model (SmolLM2-135M-Instruct),
# on the CPU, in a few minutes. Every step is one documented `lf` command that you can run
# on its own; this script only runs them in order, waits for servers and prints a summary.
#
#   1. lf models fetch                        the model, converted once to a HF directory
#   2. lf data validate FILE                  the bundled code-expert data
#   3. lf train sft --config FILE             a LoRA "code" expert
#   4. lf merge lora BASE ADAPTER OUT         a plain model directory for serving
#   5. lf serve hf --model DIR --port P       base ("general") and expert ("code")
#   6. lf expert add NAME --endpoint URL      both, into a registry file
#   7. lf serve router --registry FILE        the router, OpenAI-compatible
#   8. python examples/ask_router.py          questions with the openai client, model="auto"
#
# Artifacts go under $LF_DEMO_DIR (default runs/demo); servers' logs under its logs/.
# LF_DEMO_PORT (default 8100) is the router's port; the two model servers take the next two.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${LF_DEMO_DIR:-runs/demo}
PORT=${LF_DEMO_PORT:-8100}
BASE_PORT=$((PORT + 1))
CODE_PORT=$((PORT + 2))
mkdir -p "$OUT/logs"
export HF_HUB_DISABLE_PROGRESS_BARS=1  # lf draws its own progress; no tqdm bars from the libraries
DEMO_STARTED=$SECONDS
TIMES=()
PIDS=()

stop_servers() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT
trap 'echo; echo "Interrupted: stopping the servers."; exit 130' INT TERM

shown() {  # the command as you would type it: arguments with spaces are quoted
    local arg out=()
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:=,@+%-]+$ ]]; then out+=("$arg"); else out+=("\"$arg\""); fi
    done
    echo "${out[*]}"
}

step() {  # step TITLE COMMAND...: print the command, run it, time it
    local title=$1 started=$SECONDS
    shift
    printf '\n\033[1m== %s\033[0m\n$ %s\n' "$title" "$(shown "$@")"
    "$@"
    TIMES+=("$(printf '%-40s %4d s' "$title" $((SECONDS - started)))")
}

port_free() {
    python - "$1" <<'PY'
import socket, sys
with socket.socket() as s:
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0 else 1)
PY
}

start_server() {  # start_server NAME LOG URL COMMAND...: start in the background, wait for /ready
    local name=$1 log=$2 url=$3 started=$SECONDS
    shift 3
    printf '\n\033[1m== Start %s\033[0m\n$ %s &   (log: %s)\n' "$name" "$(shown "$@")" "$log"
    "$@" >"$log" 2>&1 &
    PIDS+=("$!")
    if ! python - "$url" "$!" <<'PY'; then
import os, sys, time
from lf.client import InferenceClient
client, pid, deadline = InferenceClient(sys.argv[1]), int(sys.argv[2]), time.monotonic() + 300
while not client.ready():
    try:
        os.kill(pid, 0)  # still running?
    except OSError:
        sys.exit("the server exited")
    if time.monotonic() > deadline:
        sys.exit("not ready after 300 s")
    time.sleep(0.5)
PY
        echo "The $name did not become ready; the last lines of $log:" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    echo "ready at $url ($((SECONDS - started)) s)"
    TIMES+=("$(printf '%-40s %4d s' "Start $name" $((SECONDS - started)))")
}

for port in "$PORT" "$BASE_PORT" "$CODE_PORT"; do
    if ! port_free "$port"; then
        echo "Port $port is in use. Stop what uses it, or run: LF_DEMO_PORT=9100 make demo" >&2
        exit 1
    fi
done

printf '\n\033[1m== Fetch the embedded model\033[0m\n$ lf models fetch\n'
started=$SECONDS
MODEL=$(lf models fetch)
echo "$MODEL"
TIMES+=("$(printf '%-40s %4d s' "Fetch the embedded model" $((SECONDS - started)))")

step "Validate the expert's data" lf data validate examples/data/code-expert.jsonl
step "Fine-tune a LoRA code expert" lf train sft --config examples/code-expert.yaml \
    --set "output_dir=$OUT/code-expert"
step "Merge the adapter" lf merge lora "$MODEL" "$OUT/code-expert" "$OUT/code-expert-merged" --overwrite

start_server "base model server" "$OUT/logs/general.log" "http://127.0.0.1:$BASE_PORT" \
    lf serve hf --model "$MODEL" --port "$BASE_PORT" --served-model-name smollm2 --log-format text
start_server "code expert server" "$OUT/logs/code.log" "http://127.0.0.1:$CODE_PORT" \
    lf serve hf --model "$OUT/code-expert-merged" --port "$CODE_PORT" --served-model-name code-expert \
    --log-format text

REGISTRY="$OUT/experts.yaml"
rm -f "$REGISTRY"
step "Register the general expert" lf expert add general --registry "$REGISTRY" \
    --description "General questions, facts, advice and everyday conversation" \
    --endpoint "http://127.0.0.1:$BASE_PORT" --model-path "$MODEL" \
    --example "What is the capital of France?" --example "Give me tips for a job interview." \
    --example "How do I cook rice?" --example "Tell me about the history of Rome."
step "Register the code expert" lf expert add code --registry "$REGISTRY" \
    --description "Programming: writing and explaining Python code and functions" \
    --keywords "python,function,code,def,list,string,bug,program" \
    --endpoint "http://127.0.0.1:$CODE_PORT" --model-path "$OUT/code-expert-merged" \
    --example "Write a Python function that reverses a string." \
    --example "Write a function that sums a list of numbers." --example "How do I fix this Python error?"
step "List the experts" lf expert list --registry "$REGISTRY"

start_server "router" "$OUT/logs/router.log" "http://127.0.0.1:$PORT" \
    lf serve router --registry "$REGISTRY" --port "$PORT" --fallback-expert general

step "Ask through the router (openai client)" python examples/ask_router.py \
    --base-url "http://127.0.0.1:$PORT/v1" --json "$OUT/answers.json"

printf '\n\033[1m== Summary\033[0m\n'
printf '  %s\n' "${TIMES[@]}"
printf '  %-40s %4d s\n' "Total" $((SECONDS - DEMO_STARTED))
cat <<EOF

Artifacts:
  base model (HF directory)   $MODEL
  LoRA adapter + training log $OUT/code-expert   (train_log.jsonl)
  merged code expert          $OUT/code-expert-merged
  expert registry             $REGISTRY
  answers (JSON)              $OUT/answers.json
  server and router logs      $OUT/logs/

About the code expert: it is a 135M-parameter model (SmolLM2-135M-Instruct) tuned with LoRA
on the 40 bundled examples in about a minute on the CPU. It shows the whole pipeline, not a
good programmer: the code it writes may well be wrong. For a real expert, train on thousands
of examples for more steps, starting from the SFT example (a GPU makes this practical):
  lf data validate YOUR_CODE_DATA.jsonl
  lf train sft --config examples/sft-smollm2.yaml --set data=YOUR_CODE_DATA.jsonl \\
      --set num_train_epochs=3 --set max_length=1024 --set output_dir=runs/code-expert
  and a larger base model helps most: add --set model=DIR_OR_HUB_ID.

The servers stop now. Run any step above on its own to explore, e.g.
  lf serve hf --model $OUT/code-expert-merged --port 8000
EOF
