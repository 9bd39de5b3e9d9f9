#!/usr/bin/env bash
# Train under Slurm with srun (see tools/slurm_run.sh for GPUS, GPUS_PER_NODE,
# CPUS_PER_TASK and SRUN_ARGS).
#
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
set -euo pipefail
exec bash "$(dirname "$0")/slurm_run.sh" train.py "$1" "$2" "$3" --work-dir="$4" "${@:5}"
