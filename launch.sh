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
#   ./launch.sh --help                             this text
# Then: python -m experiments.summarize <the sweep's out directory>
# Each run's console output goes to WORKDIR/log.txt. Seeds of one setting can also run as
# one population (config argument seeds=N): see README, "Train".
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }  # the header above
die() { echo "error: $*" >&2; exit 2; }
case ${1:-} in
  -h|--help) usage; exit 0;;
  '') die "which sweep? ./launch.sh SWEEP.py [-j N | --gpus N | --index I | --list] (see --help)";;
  -*) die "the sweep file comes first: ./launch.sh SWEEP.py [options] (see --help)";;
esac
sweep=$1; shift
[ -f "$sweep" ] || die "$sweep: no such sweep file (see sweeps/)"
jobs=1; gpus=0; index=; list=0
num() { [[ ${2:-} =~ ^[0-9]+$ ]] || die "$1 needs a number, got '${2:-}'"; }
while [ $# -gt 0 ]; do
  case $1 in
    -j) num -j "${2:-}"; jobs=$2; shift 2;;
    --gpus) num --gpus "${2:-}"; gpus=$2; jobs=$2; shift 2;;
    --index) num --index "${2:-}"; index=$2; shift 2;;
    --list) list=1; shift;;
    -h|--help) usage; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
runs=$($PY -m experiments.sweep list "$sweep") || exit 2
if [ "$list" = 1 ]; then printf '%s\n' "$runs"; exit 0; fi

run_one() {  # index slot
  local line wd cmd st
  line=$($PY -m experiments.sweep list "$sweep" | awk -F'\t' -v i="$1" '$1 == i')
  [ -n "$line" ] || die "run index $1 is not in $sweep"
  st=$(cut -f2 <<<"$line"); wd=$(cut -f3 <<<"$line"); cmd=$(cut -f4 <<<"$line")
  if [ "$st" = done ]; then echo "[$1] done, skipped: $wd"; return 0; fi
  mkdir -p "$wd"
  echo "[$1] ${st/new/start}: $wd"
  if [ "$gpus" -gt 0 ]; then export CUDA_VISIBLE_DEVICES=$(( $2 % gpus )); fi
  if eval "$cmd" >>"$wd/log.txt" 2>&1; then echo "[$1] finished: $wd"
  else echo "[$1] FAILED (exit $?): $wd, see $wd/log.txt: $(tail -n 1 "$wd/log.txt")"; return 1; fi
}

if [ -n "$index" ]; then run_one "$index" 0; exit; fi
n=$(printf '%s\n' "$runs" | wc -l)
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
