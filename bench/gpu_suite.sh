#!/usr/bin/env bash
# The GPU suite on a GPU machine without network (docs/performance.md, "The GPU suite"):
#
#     bench/gpu_suite.sh OUT [--smoke] [--only NAMES] ...   (python -m incept.bench.gpu_suite -h)
#
# With carry/ (bench/gpu_carry.sh): first installs incept from this checkout into
# python3's environment ($PYTHON), taking what it lacks from carry/wheels only (pip
# --no-index: what the machine has is kept), logging to OUT/install.log; then runs the
# suite on carry/fashion-mnist with what is left of $SUITE_BUDGET seconds (480: the
# install and the suite end inside 9 minutes). Without carry/: the suite with the
# incept python3 has.
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/gpu_suite.sh OUT [--smoke] [suite options]}
shift
python=${PYTHON:-python3}
total=${SUITE_BUDGET:-480}
mkdir -p "$out"
options=()

if [ -d "$repo/carry/wheels" ]; then
    log=$out/install.log
    start=$SECONDS
    pip=("$python" -m pip install --no-index --find-links "$repo/carry/wheels"
         --no-cache-dir --disable-pip-version-check)
    # incept with the train extra; where a requirement is neither on the machine nor
    # carried, incept's core alone, so that the steps needing no more still run
    if timeout 150 "${pip[@]}" "$repo[train]" >"$log" 2>&1; then
        code=0
    else
        echo "[suite] the train extra's requirements cannot be met here: incept's core only" >>"$log"
        timeout 90 "${pip[@]}" "$repo" >>"$log" 2>&1 && code=1 || code=2
    fi
    # timm is optional: only the comparisons with timm's models need it
    if ! "$python" -c "import importlib.util as u, sys; sys.exit(not u.find_spec('timm'))"; then
        timeout 45 "${pip[@]}" timm >>"$log" 2>&1 || echo "[suite] timm not installed" >>"$log"
    fi
    echo "[suite] install: exit $code after $((SECONDS - start)) s" | tee -a "$log"
    options+=(--install-log "$log")
fi
options+=(--budget $((total - SECONDS)))  # a --budget given after OUT comes later and wins
if [ -d "$repo/carry/fashion-mnist" ]; then
    options+=(--data-dir "$repo/carry/fashion-mnist")
fi
exec "$python" -m incept.bench.gpu_suite "$out" ${options[@]+"${options[@]}"} "$@"
