#!/usr/bin/env bash
# The GPU checks of the README's "On a GPU" section, after prepare_gpu_machine.sh.
#
#   bash tools/gpu/run_gpu_checks.sh LOG_DIR STEP [STEP ...]
#
# Steps (each writes LOG_DIR/<step>.log):
#   tests    pytest -m gpu: CUDA kernels vs the exact path at R50 1024x1024 shapes,
#            the full head on CUDA vs CPU, fp16 autocast training
#   kernels  deformable-attention kernels timed at 1024x1024 and 512x512 inputs
#   bench    benchmark.py on CUDA at 1024x1024 (20 things + 1 stuff per image) and
#            512x512 (5 + 1), with torch.profiler tables in LOG_DIR/profiles.txt
#   toy      toy models trained and tested through tools/train.py and tools/test.py
#            in fp32, fp16 and bf16 (results also in LOG_DIR/toy_results.md)
set -uo pipefail
cd "$(dirname "$0")/../.."
LOG_DIR=$1; shift
mkdir -p "$LOG_DIR"
export PYTHONUNBUFFERED=1
status=0
for step in "$@"; do
  log="$LOG_DIR/$step.log"
  echo "[run_gpu_checks $(date +%T)] $step -> $log"
  start=$SECONDS
  case $step in
    tests)
      python3 -m pytest -m gpu tests -q -rs -p no:cacheprovider >"$log" 2>&1 ;;
    kernels)
      for size in 1024 512; do
        python3 tools/analysis_tools/bench_ms_deform_attn.py --device cuda --size $size --repeats 20 \
          --triton-block-m 16 32 128
      done >"$log" 2>&1 ;;
    bench)
      rm -rf /tmp/m2f_profiles
      { python3 tools/analysis_tools/benchmark.py --device cuda --size 1024 --masks 20 --runs 1 --memory-claim \
          --iters 10 --profile /tmp/m2f_profiles &&
        python3 tools/analysis_tools/benchmark.py --device cuda --size 512 --masks 5 \
          --iters 10; } >"$log" 2>&1
      cat /tmp/m2f_profiles/*.txt >"$LOG_DIR/profiles.txt" 2>/dev/null ;;
    toy)
      python3 tools/gpu/toy_precision_matrix.py --work-dir /tmp/m2f_gpu_toy >"$log" 2>&1
      cp /tmp/m2f_gpu_toy/results.md "$LOG_DIR/toy_results.md" 2>/dev/null ;;
    *)
      echo "unknown step $step" >"$log"; false ;;
  esac
  rc=$?
  [[ $rc != 0 ]] && status=1
  echo "[run_gpu_checks $(date +%T)] $step: exit $rc after $((SECONDS - start)) s"
  tail -n 15 "$log"
done
exit $status
