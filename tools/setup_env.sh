#!/usr/bin/env bash
# One-step, idempotent environment set-up for m2f_mm.
#
#   bash tools/setup_env.sh          # runtime only
#   bash tools/setup_env.sh --tests  # runtime + test requirements
#
# - torch: an installed torch (e.g. a CUDA build) is kept; otherwise the CPU
#   build torch==2.13.0 is installed.
# - mmcv 2.1.0 is compiled with its ops against that torch (CUDA kernels too
#   when CUDA is present). pip caches the wheel, so a rebuild is rare.
# - A second run only checks imports and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PIP="$PY -m pip --disable-pip-version-check"
WITH_TESTS=0
[[ "${1:-}" == "--tests" ]] && WITH_TESTS=1

have() { $PY -c "$1" >/dev/null 2>&1; }
step() { echo "[setup_env] $*"; }

if have "import torch"; then
  step "torch $($PY -c 'import torch; print(torch.__version__)') already installed: kept"
else
  step "installing torch==2.13.0 (CPU build)"
  $PIP install -q torch==2.13.0
fi

# mmcv's setup.py imports pkg_resources (gone from setuptools>=81; torch 2.13
# needs >=77.0.3) and must
# see the installed torch, so the build runs without isolation.
if ! have "import setuptools, pkg_resources, wheel, ninja"; then
  step "installing build tools"
  $PIP install -q "setuptools>=77.0.3,<81" wheel ninja
fi

if have "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"; then
  step "mmcv 2.1.0 with compiled ops already installed"
else
  step "building mmcv 2.1.0 with ops (about 9 minutes on 2 cores; cached afterwards)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation mmcv==2.1.0
fi

REQS=(-r requirements/mminstall.txt -r requirements/runtime.txt)
IMPORTS="mmengine, mmdet.models, mmseg.models, scipy, pycocotools, m2f_mm, m2f_mm.ops._ms_deform_attn_cpu"
if [[ $WITH_TESTS == 1 ]]; then
  REQS+=(-r requirements/tests.txt)
  IMPORTS="$IMPORTS, pytest, triton, onnx, onnxruntime, cityscapesscripts.helpers.labels"
fi
# m2f_mm must be installed from this checkout (another clone may be installed).
CHECK="import os, $IMPORTS
assert os.path.realpath(m2f_mm.__file__).startswith(os.path.realpath('$PWD') + os.sep)"
if have "$CHECK"; then
  step "OpenMMLab stack and m2f_mm already installed"
else
  step "installing mmengine, mmdet, mmsegmentation and m2f_mm (compiles its C++ CPU op, about a minute)"
  $PIP install -q "${REQS[@]}"
  # --use-pep517: the legacy develop command would build in an isolated env without torch.
  $PIP install -q --no-build-isolation --use-pep517 --no-deps -e .
fi
$PY -c "import m2f_mm; print('[setup_env] ready:', m2f_mm.version_summary())"
