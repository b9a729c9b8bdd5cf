#!/usr/bin/env bash
# Install everything LargeForge needs into .venv - idempotent, safe to re-run.
#
# pip + venv rather than uv: here `pip install torch==2.13.0` takes the CPU wheel lying
# on disk, while uv ignores it and downloads a ~3 GB CUDA build.
#
# Steps: create .venv; torch (pinned in constraints.txt); lf-core and every plugin under
# plugins/ as editable installs; the dev tools (pyproject's `dev` group); then each
# plugin's optional scripts/post-install.sh (e.g. to remove packages that break beside
# the on-disk torch); redis-server (apt-get, where it can) for the Redis tests. A stamp of
# the inputs makes the second run instant.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"
LOG="$VENV/install.log"

# pip's output goes to $LOG; it is shown only when a step fails.
pip_quiet() {
    if ! $PIP install -q "$@" >>"$LOG" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$LOG" | tail -40 >&2
        echo ">> pip install failed; full log: $LOG" >&2
        exit 1
    fi
}
STAMP="$VENV/.lf-install-stamp"

# redis-server (Debian package) for the tests of the shared router state: installed where
# apt-get can (root, or sudo without a password); otherwise say why and go on - those tests
# then skip, naming what is missing.
install_redis_server() {
    if command -v redis-server >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo ">> redis-server is not installed and apt-get needs root: the Redis tests will skip" >&2
            echo ">>   (install it with: sudo apt-get install -y redis-server)" >&2
            return 0
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo ">> redis-server is not installed and there is no apt-get: the Redis tests will skip" >&2
        return 0
    fi
    local log="${TMPDIR:-/tmp}/lf-install-redis-server.log"
    echo ">> installing redis-server (apt-get)"
    if ! { $sudo apt-get install -y -q redis-server >"$log" 2>&1 \
            || { $sudo apt-get update -q >>"$log" 2>&1 && $sudo apt-get install -y -q redis-server >>"$log" 2>&1; }; }; then
        echo ">> could not install redis-server (see $log): the Redis tests will skip" >&2
    fi
    # the package starts a system-wide redis-server on 6379; the tests start their own on free ports
}

inputs=(scripts/install.sh constraints.txt pyproject.toml core/pyproject.toml)
for p in plugins/*/pyproject.toml plugins/*/scripts/post-install.sh; do
    [ -f "$p" ] && inputs+=("$p")
done
install_redis_server  # cheap when it is there; not part of the stamp (apt-get may work on a later run)

digest=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ]; then
    exit 0
fi

echo ">> setting up $VENV (first run takes a few minutes; later runs are instant)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
: >"$LOG"
pip_quiet --upgrade "pip>=25.1"

editables=(-e "core[data,tokenizers,testing,models,serve,storage,redis]")
# A plugin may name extras that `make install` adds (`[tool.lf] install-extras = "a,b"` in its pyproject).
for dir in plugins/*/; do
    [ -f "$dir/pyproject.toml" ] || continue
    extras=$(sed -n 's/^install-extras *= *"\(.*\)"/\1/p' "$dir/pyproject.toml")
    editables+=(-e "${dir%/}${extras:+[$extras]}")
done

pip_quiet -c constraints.txt "torch==2.13.0"
pip_quiet -c constraints.txt "${editables[@]}" --group dev

for hook in plugins/*/scripts/post-install.sh; do
    [ -f "$hook" ] || continue
    echo ">> $hook"
    VENV="$VENV" bash "$hook"
done

# Byte-compile the editable sources as pip does for a regular install: where
# PYTHONDONTWRITEBYTECODE is set (as on these machines), every `lf` call would otherwise
# recompile them from source (~50 ms of a 200 ms start-up budget).
"$VENV/bin/python" -m compileall -q core/src plugins/*/src >/dev/null || true

echo "$digest" > "$STAMP"
echo ">> installed: $("$VENV/bin/lf" --version)"
