#!/usr/bin/env bash
# The GPU tables of docs/RESULTS.md (issue 7), one part per call (each part < 10 minutes on
# one H100), every figure a JSON line appended to OUT/gpu.jsonl.
#
#   bash benchmarks/gpu.sh throughput   FF vs BP images/s, float32 and bf16, 2 batch sizes,
#                                       with FLOP/s and the fraction of the GPU's peak
#   bash benchmarks/gpu.sh torch        the same steps against PyTorch (torch_step, cuda)
#   bash benchmarks/gpu.sh memory       peak memory versus depth (compiled memory analysis)
#   bash benchmarks/gpu.sh inference    per-image cost of the predictors
#   bash benchmarks/gpu.sh loop         the training loop against its step (device and host
#                                       loops, float32 and bf16, a population of 5), then the
#                                       paper's FF-CNN trained until LOOP_TRAIN_S (default 300 s)
#                                       runs out; needs MNIST in FFJAX_DATA_DIR (see below)
#   bash benchmarks/gpu.sh repro        rows of docs/REPRODUCTION.md (REPRO_ROWS, default the
#                                       first GPU run), each for at most REPRO_BUDGET_S (510 s)
#                                       in this call; the same call continues them on a warm
#                                       machine; results in OUT/ROW.json (merge them here with
#                                       python -m experiments.reproduce --add OUT/*.json)
#   SMOKE=1 bash benchmarks/gpu.sh all  every part on tiny configs, seconds (checks the script)
#
# The loop part trains on MNIST: `bash ../shared/tools/device_data.sh mnist` puts it in the
# ignored .devdata/part1 (11 MB); carry .devdata with .whl, and set
# FFJAX_DATA_DIR=$PWD/.devdata/part1. One call:
#   LOOP_TRAIN_S=300 FFJAX_DATA_DIR=$PWD/.devdata/part1 bash benchmarks/gpu.sh loop
#
# On a machine without ml-collections (the lent GPU machines have jax, flax, optax, chex,
# orbax and torch, not ml-collections), put its wheel in the ignored .whl/ first, where
# pip can reach PyPI:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl ml-collections==1.1.0
# and carry .whl with the call; this script installs it beside the tree (--target).
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}
out=${OUT:-runs/bench}
mkdir -p "$out"
if ! python -c 'import ml_collections' 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "gpu.sh: ml-collections is not installed and .whl/ has no wheels" >&2; exit 2; }
  python -m pip install -q --no-deps --target .whl/site .whl/*.whl || exit 2
  export PYTHONPATH=$PWD/.whl/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
log=$out/gpu.jsonl
smoke=${SMOKE:-0}
steps=20; repeats=5
[ "$smoke" = 1 ] && { steps=2; repeats=1; }

# spec [more args]: the config spec, with ',tiny' added in smoke mode
spec() { if [ "$smoke" = 1 ]; then case $1 in *:*) echo "$1,tiny";; *) echo "$1:tiny";; esac; else echo "$1"; fi; }
run() { echo "+ $*" >&2; "$@" | tee -a "$log"; }

configs() {  # the paper-sized steps: threshold FF-CNN, ASGE, CwComp, ResNet-18, MobileNetV3
  local extra=$1
  for c in configs/mnist.py configs/asge_mnist.py configs/asge_cifar10.py configs/cwcomp.py \
           configs/resnet18_cifar10.py configs/mobilenetv3_cifar10.py; do
    spec "$c:method=ff$extra"; spec "$c:method=bp$extra"
  done
}

part_throughput() {
  # The configs' batch sizes (50-128), then 1024: a GPU needs large batches to fill.
  for b in 0 1024; do
    [ "$smoke" = 1 ] && [ $b = 1024 ] && b=64
    run python -m benchmarks.throughput $(configs '') $(configs ',bf16') --batch $b --steps $steps --repeats $repeats
  done
}

part_torch() {
  local cs="configs/mnist.py configs/asge_mnist.py configs/asge_cifar10.py configs/cwcomp.py"
  local specs=()
  for c in $cs; do for x in '' ',bf16'; do specs+=("$(spec "$c:method=ff$x")" "$(spec "$c:method=bp$x")"); done; done
  for b in 0 1024; do
    [ "$smoke" = 1 ] && [ $b = 1024 ] && b=64
    run python -m benchmarks.torch_step "${specs[@]}" --batch $b --steps $steps --repeats $repeats
  done
}

part_memory() {
  local w=64 b=256 d=4,8,16,32
  [ "$smoke" = 1 ] && { w=8; b=8; d=2,4; }
  run python -m benchmarks.memory --width $w --batch $b --depths $d
  run python -m benchmarks.memory --width $w --batch $b --depths $d --modes ff,ff_streamed --head last
}

part_inference() {
  run python -m benchmarks.inference $(spec configs/mnist.py) $(spec configs/asge_mnist.py) \
      $(spec configs/cwcomp.py) --batch $([ "$smoke" = 1 ] && echo 50 || echo 1000)
}

part_loop() {
  # Step versus loop images/s (issue "trainer": loop >= 90% of the step), single runs and
  # a population of 5 seeds (<= 2x the time of one).
  local cs=("$(spec configs/mnist.py)" "$(spec configs/mnist.py:bf16)" "$(spec configs/asge_mnist.py)"
            "$(spec configs/asge_mnist.py:bf16)" "$(spec configs/asge_cifar10.py:bf16)")
  run python -m benchmarks.throughput "${cs[@]}" --steps $steps --repeats $repeats
  run python -m benchmarks.throughput "$(spec configs/mnist.py:bf16)" "$(spec configs/asge_mnist.py:bf16)" \
      --population 5 --steps $steps --repeats $repeats --loop device
  # The paper's FF-CNN (3 x 128 7x7, batch 50) in bf16 at lr 5e-4, 50 epochs, evaluated
  # every 10, for as long as LOOP_TRAIN_S allows: SIGTERM at the limit saves a checkpoint
  # (the same command resumes it); minutes per epoch are in its metrics.jsonl.
  local t=${LOOP_TRAIN_S:-300} wd=$out/ffcnn_paper_bf16
  [ "$smoke" = 1 ] && t=120
  echo "+ experiments.main paper FF-CNN for ${t}s" >&2
  timeout -s TERM "$t" python -m experiments.main --config="$(spec configs/mnist.py:bf16,epochs=50)" \
      --config.optim.lr=5e-4 --config.train.eval_every_epochs=10 --config.plots=False \
      --workdir="$wd" 2>&1 | tail -n 20
  python - "$wd" <<'PY' | tee -a "$log"
import json, sys
from ffjax import metrics
recs = metrics.read(sys.argv[1])
ips = [r['images_per_sec'] for r in recs if 'images_per_sec' in r][1:]
ev = [r for r in recs if any(k.startswith('val/acc') for k in r)]
ends = [r for r in recs if 'elapsed_s' in r and 'epoch' in r and 'images_per_sec' not in r]
out = {'bench': 'loop_train', 'workdir': sys.argv[1], 'epochs_done': len(ends),
       'images_per_sec_median': sorted(ips)[len(ips) // 2] if ips else None,
       'minutes_per_epoch': ends[-1]['elapsed_s'] / 60 / len(ends) if ends else None,
       'val': {k: v for k, v in (ev[-1] if ev else {}).items() if k.startswith('val/acc_')}}
print(json.dumps(out))
PY
}

part_repro() {
  # REPRO_SEEDS=N: N seeds as one population; REPRO_PARTS=DIR: device_data.sh's parts
  # (CIFAR-10), merged first. Runs live in REPRO_DIR (the machine's own disk: kept while
  # it stays warm, so the next call continues a row that ran out of budget).
  local rows=${REPRO_ROWS:-ffcnn_lr5e-4_50ep} budget=${REPRO_BUDGET_S:-510} extra=()
  [ "$smoke" = 1 ] && { rows=${REPRO_ROWS:-asge_mnist_ours}; extra+=(--smoke); }
  [ -n "${REPRO_SEEDS:-}" ] && extra+=(--seeds="$REPRO_SEEDS")
  [ -n "${REPRO_PARTS:-}" ] && extra+=(--data_parts="$REPRO_PARTS")
  for r in $rows; do
    echo "+ experiments.reproduce --row=$r" >&2
    OUT=$out python -m experiments.reproduce --row="$r" --budget_s="$budget" \
        --runs_dir="${REPRO_DIR:-/tmp/ffjax_repro}" "${extra[@]}" 2>&1 | tail -n 30
  done
}

case $part in
  throughput|torch|memory|inference|loop|repro) "part_$part";;
  all) part_throughput; part_torch; part_memory; part_inference; part_loop; part_repro;;
  *) sed -n '2,21p' "$0"; exit 2;;
esac
