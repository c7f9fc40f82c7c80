#!/usr/bin/env bash
# Fill carry/ (git-ignored) with what bench/gpu_suite.sh installs on a GPU machine that
# has Python 3.12 with torch and torchvision but no network (docs/performance.md,
# "The GPU suite"). Run it here, where PyPI is reachable:
#
#     bench/gpu_carry.sh            (or: make gpu-carry)
#
#   carry/wheels/         cp312 manylinux x86_64 wheels: incept's core and training
#                         requirements (pyproject.toml) with their requirements, setuptools
#                         (gpu_suite.sh builds incept from the checkout with it) and timm
#   carry/fashion-mnist/  the four Fashion-MNIST IDX .gz files ($INCEPT_DATA, else the
#                         Debian package dataset-fashion-mnist's folder)
#
# Left out, to stay under the device tool's 64 MiB: numpy and Pillow (torchvision
# requires both, so a machine with torchvision has them) and the large wheels the GPU
# machine's image already holds (KINDS.md lists matplotlib, tensorboard and grpcio
# there): matplotlib with contourpy, fonttools and kiwisolver (17 MB), tensorboard with
# tensorboard-data-server and grpcio (13 MB). timm is carried without its requirements
# (huggingface_hub, safetensors, pyyaml: in that image too).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
carry=$repo/carry
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
data=${INCEPT_DATA:-/usr/share/datasets/fashion-mnist}
limit_mib=60
provided="numpy pillow matplotlib contourpy fonttools kiwisolver tensorboard tensorboard_data_server grpcio"
target=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3
        --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)

for name in train-images-idx3-ubyte t10k-images-idx3-ubyte train-labels-idx1-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$data/$name.gz" ] || { echo "gpu_carry.sh: no $data/$name.gz (set INCEPT_DATA)" >&2; exit 2; }
done

rm -rf "$carry" && mkdir -p "$carry/wheels" "$carry/fashion-mnist"
# incept's requirements, core and the train extra, as pyproject.toml lists them
mapfile -t requirements < <(cd "$repo" && "$python" -c '
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["train"]))')
"$python" -m pip download -q -d "$carry/wheels" "${target[@]}" "${requirements[@]}" "setuptools>=77"
"$python" -m pip download -q -d "$carry/wheels" "${target[@]}" --no-deps -c "$repo/.ci/constraints.txt" timm
for name in $provided; do
    rm -f "$carry/wheels/$name"-*.whl
done
cp "$data"/*-ubyte.gz "$carry/fashion-mnist/"

ls -1 "$carry/wheels"
size=$(du -sm "$carry" | cut -f1)
echo "gpu_carry.sh: $carry holds $(ls "$carry/wheels" | wc -l) wheels and Fashion-MNIST, $(du -sh "$carry" | cut -f1)"
if [ "$size" -gt "$limit_mib" ]; then
    echo "gpu_carry.sh: over $limit_mib MiB: the device tool carries 64 MiB with the checkout" >&2
    exit 1
fi
