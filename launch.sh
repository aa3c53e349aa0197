#!/usr/bin/env bash
# Runs a sweep (see experiments/sweep.py for the sweep file), skipping finished runs and
# resuming interrupted ones.
#
#   ./launch.sh sweeps/mnist_width_K.py            one run after another
#   ./launch.sh sweeps/mnist_width_K.py -j 2       2 at a time (CPU: N processes share the cores;
#                                                  GPUs: run i gets GPU i mod N via CUDA_VISIBLE_DEVICES)
#   ./launch.sh sweeps/mnist_width_K.py --gpus 4   4 at a time, one per GPU
#   ./launch.sh sweeps/mnist_width_K.py --index 5  only run 5: for a scheduler's array job, e.g.
#       sbatch --array=0-11 --wrap './launch.sh sweeps/mnist_width_K.py --index $SLURM_ARRAY_TASK_ID'
#   ./launch.sh sweeps/mnist_width_K.py --list     the runs and their status (new / partial / done)
# Then: python -m experiments.summarize <the sweep's out directory>
# Each run's console output goes to WORKDIR/log.txt.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python}
[ $# -ge 1 ] || { sed -n '2,16p' "$0"; exit 2; }
sweep=$1; shift
jobs=1; gpus=0; index=; list=0
while [ $# -gt 0 ]; do
  case $1 in
    -j) jobs=$2; shift 2;;
    --gpus) gpus=$2; jobs=$2; shift 2;;
    --index) index=$2; shift 2;;
    --list) list=1; shift;;
    *) echo "launch.sh: unknown option $1" >&2; exit 2;;
  esac
done
if [ "$list" = 1 ]; then exec $PY -m experiments.sweep list "$sweep"; fi

run_one() {  # index slot
  local line wd cmd st
  line=$($PY -m experiments.sweep list "$sweep" | awk -F'\t' -v i="$1" '$1 == i')
  st=$(cut -f2 <<<"$line"); wd=$(cut -f3 <<<"$line"); cmd=$(cut -f4 <<<"$line")
  if [ "$st" = done ]; then echo "[$1] done, skipped: $wd"; return 0; fi
  mkdir -p "$wd"
  echo "[$1] ${st/new/start}: $wd"
  if [ "$gpus" -gt 0 ]; then export CUDA_VISIBLE_DEVICES=$(( $2 % gpus )); fi
  if eval "$cmd" >>"$wd/log.txt" 2>&1; then echo "[$1] finished: $wd"
  else echo "[$1] FAILED (exit $?): $wd, see $wd/log.txt: $(tail -n 1 "$wd/log.txt")"; return 1; fi
}

if [ -n "$index" ]; then run_one "$index" 0; exit; fi
n=$($PY -m experiments.sweep list "$sweep" | wc -l)
fail=0
if [ "$jobs" -le 1 ]; then
  for ((i = 0; i < n; i++)); do run_one $i 0 || fail=1; done
else
  # A simple pool: at most $jobs runs at once, slot = i mod jobs.
  for ((i = 0; i < n; i++)); do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || fail=1; done
    run_one $i $(( i % jobs )) &
  done
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || fail=1; done
fi
exit $fail
