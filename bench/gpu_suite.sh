#!/usr/bin/env bash
# The GPU suite on a GPU machine without network (docs/performance.md, "The GPU suite"):
#
#     bench/gpu_suite.sh OUT [--smoke] [--only NAMES] ...   (python -m incept.bench.gpu_suite -h)
#
# With carry/ (bench/gpu_carry.sh): first installs incept from this checkout into
# python3's environment ($PYTHON), taking what it lacks from carry/wheels only (pip
# --no-index: what the machine has is kept), logging to OUT/install.log; then runs the
# suite on carry/fashion-mnist. Without carry/: the suite with the incept python3 has.
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/gpu_suite.sh OUT [--smoke] [suite options]}
shift
python=${PYTHON:-python3}
mkdir -p "$out"
options=()

if [ -d "$repo/carry/wheels" ]; then
    log=$out/install.log
    start=$SECONDS
    pip=("$python" -m pip install --no-index --find-links "$repo/carry/wheels"
         --no-cache-dir --disable-pip-version-check)
    # incept with the train extra; where a requirement is neither on the machine nor
    # carried, incept's core alone, so that the steps needing no more still run
    if timeout 300 "${pip[@]}" "$repo[train]" >"$log" 2>&1; then
        code=0
    else
        echo "[suite] the train extra's requirements cannot be met here: incept's core only" >>"$log"
        timeout 300 "${pip[@]}" "$repo" >>"$log" 2>&1 && code=1 || code=2
    fi
    if ! "$python" -c "import timm" 2>/dev/null; then  # optional: only the timm comparisons need it
        timeout 60 "${pip[@]}" timm >>"$log" 2>&1 || echo "[suite] timm not installed" >>"$log"
    fi
    echo "[suite] install: exit $code after $((SECONDS - start)) s" | tee -a "$log"
    options+=(--install-log "$log")
fi
if [ -d "$repo/carry/fashion-mnist" ]; then
    options+=(--data-dir "$repo/carry/fashion-mnist")
fi
exec "$python" -m incept.bench.gpu_suite "$out" ${options[@]+"${options[@]}"} "$@"
