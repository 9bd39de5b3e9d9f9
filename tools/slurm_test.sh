#!/usr/bin/env bash
# Test under Slurm with srun (see tools/slurm_run.sh for GPUS, GPUS_PER_NODE,
# CPUS_PER_TASK and SRUN_ARGS).
#
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
set -euo pipefail
exec bash "$(dirname "$0")/slurm_run.sh" test.py "$1" "$2" "$3" "$4" "${@:5}"
