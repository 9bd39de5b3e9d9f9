#!/usr/bin/env bash
# Prepare a fresh GPU machine without network access for m2f_mm, in one command.
#
# The machine already has python3 with torch (CUDA), Triton, numpy, scipy and
# OpenCV. Everything else comes as files made by tools/gpu/download_wheels.sh:
# wheels in .whl/ and the mmcv 2.1.0 source archive in .mmcv_src/.
#
#   bash tools/gpu/prepare_gpu_machine.sh [cpu|cuda]   # then: source "$SITE/env.sh"
#
# - The wheels are installed into $SITE (default /tmp/m2f_site), which env.sh
#   puts first on PYTHONPATH together with this checkout.
# - mmcv 2.1.0 is compiled there with its ops unless .whl/ already holds a
#   built mmcv wheel: `cpu` (default) builds the CPU ops only, which mmdet and
#   mmseg import (about 2 minutes on 16 cores; m2f_mm's own Triton kernel is
#   its CUDA path); `cuda` also compiles mmcv's CUDA kernels for this GPU's
#   architecture (many minutes). The built wheel is kept in $SITE/wheels so
#   that it can be carried to the next fresh machine in .whl/.
# - A failed CUDA build leaves its log in $SITE/logs/mmcv-cuda.log and exits 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
MODE=${1:-cpu}
SITE=${SITE:-/tmp/m2f_site}
PY=${PYTHON:-python3}
JOBS=${MAX_JOBS:-$(nproc)}
say() { echo "[prepare_gpu_machine $(date +%T)] $*"; }

if [[ $MODE != cpu && $MODE != cuda ]]; then
  echo "usage: $0 [cpu|cuda]" >&2; exit 2
fi
if ! ls .whl/*.whl >/dev/null 2>&1 || ! ls .mmcv_src/mmcv-2.1.0.tar.gz >/dev/null 2>&1; then
  echo "prepare_gpu_machine.sh: .whl/*.whl or .mmcv_src/mmcv-2.1.0.tar.gz missing: run" \
       "tools/gpu/download_wheels.sh where the package registry is reachable, and carry both" >&2
  exit 1
fi
mkdir -p "$SITE/logs" "$SITE/wheels"
say "installing $(ls .whl/*.whl | wc -l) wheels into $SITE"
$PY -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" .whl/*.whl
cat > "$SITE/env.sh" <<ENV
export PYTHONPATH="$SITE:$REPO\${PYTHONPATH:+:\$PYTHONPATH}"
ENV
# shellcheck disable=SC1091
source "$SITE/env.sh"

if $PY -c "import mmcv.ops" 2>/dev/null; then
  say "mmcv with ops already installed"
else
  say "compiling mmcv 2.1.0 ($MODE ops, $JOBS jobs); log: $SITE/logs/mmcv-$MODE.log"
  start=$SECONDS
  if [[ $MODE == cpu ]]; then
    # mmcv's setup.py compiles CUDA whenever torch sees a GPU: hide it.
    export CUDA_VISIBLE_DEVICES= FORCE_CUDA=0
  else
    arch=$($PY -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch
  fi
  if ! MMCV_WITH_OPS=1 MAX_JOBS=$JOBS $PY -m pip wheel -v --no-build-isolation --no-deps \
      -w "$SITE/wheels" .mmcv_src/mmcv-2.1.0.tar.gz >"$SITE/logs/mmcv-$MODE.log" 2>&1; then
    say "mmcv build failed; the first errors:"
    grep -m 20 -E "error|Error" "$SITE/logs/mmcv-$MODE.log" || tail -n 40 "$SITE/logs/mmcv-$MODE.log"
    exit 1
  fi
  $PY -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" \
    "$SITE"/wheels/mmcv-2.1.0-*.whl
  say "mmcv built in $((SECONDS - start)) s: $(ls "$SITE"/wheels/mmcv-2.1.0-*.whl)"
fi
$PY -c "import torch, m2f_mm; print('[prepare_gpu_machine] ready:', m2f_mm.version_summary(),
'| torch', torch.__version__, '| CUDA device:', torch.cuda.get_device_name(0))"
echo "[prepare_gpu_machine] now: source $SITE/env.sh"
