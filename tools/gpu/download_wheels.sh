#!/usr/bin/env bash
# Fetch, on a machine with registry access, what tools/gpu/prepare_gpu_machine.sh
# installs on a GPU machine without network (python3.12, torch + CUDA + Triton
# already there): pure-Python and cp312 manylinux wheels into .whl/ and the mmcv
# 2.1.0 source archive into .mmcv_src/ (both git-ignored; carry them).
#
#   bash tools/gpu/download_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
PIP="$PY -m pip --disable-pip-version-check -q"
PLATFORMS=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
           manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS+=(--platform "$tag")
done
# What the GPU image lacks of mmengine/mmcv/mmdet/mmseg/m2f_mm's needs (its
# numpy, scipy, opencv, matplotlib, rich, regex ... are used as they are).
WHEELS=(mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 addict yapf platformdirs
        termcolor terminaltables prettytable wcwidth ftfy pycocotools shapely
        "setuptools>=77.0.3,<81")
rm -rf .whl && mkdir -p .whl .mmcv_src
$PIP download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d .whl "${WHEELS[@]}"
$PIP download --no-deps --no-binary=:all: -d .mmcv_src mmcv==2.1.0
ls -l .whl .mmcv_src
