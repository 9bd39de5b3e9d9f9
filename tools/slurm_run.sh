#!/usr/bin/env bash
# srun a tool of tools/ on a Slurm partition: the common part of slurm_train.sh and
# slurm_test.sh. One task per GPU (on a partition without GPUs, one CPU task each,
# over gloo).
#
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#       bash tools/slurm_run.sh TOOL PARTITION JOB_NAME [tool args]
#
# GPUS tasks in all, GPUS_PER_NODE per node (16 GPUS over 8 per node = 2 nodes).
# --gres=gpu:GPUS_PER_NODE is asked for only where the partition has GPUs.
set -euo pipefail
TOOL=$1
PARTITION=$2
JOB_NAME=$3
: "${GPUS:=8}" "${GPUS_PER_NODE:=8}" "${CPUS_PER_TASK:=5}" "${SRUN_ARGS:=}"
GRES=()
if sinfo -h -p "$PARTITION" -o %G | grep -q gpu; then
  GRES=(--gres=gpu:"$GPUS_PER_NODE")
fi
HERE=$(cd "$(dirname "$0")" && pwd)
set -x
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" --job-name="$JOB_NAME" "${GRES[@]}" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
    ${SRUN_ARGS} "${PYTHON:-python3}" -u "$HERE/$TOOL" "${@:4}" --launcher=slurm
