#!/usr/bin/env bash
# The GPU tables of docs/RESULTS.md (issue 7), one part per call (each part < 10 minutes on
# one H100), every figure a JSON line appended to OUT/gpu.jsonl.
#
#   bash benchmarks/gpu.sh throughput   FF vs BP images/s, float32 and bf16, 2 batch sizes,
#                                       with FLOP/s and the fraction of the GPU's peak
#   bash benchmarks/gpu.sh torch        the same steps against PyTorch (torch_step, cuda)
#   bash benchmarks/gpu.sh memory       peak memory versus depth (compiled memory analysis)
#   bash benchmarks/gpu.sh inference    per-image cost of the predictors
#   SMOKE=1 bash benchmarks/gpu.sh all  every part on tiny configs, seconds (checks the script)
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

case $part in
  throughput|torch|memory|inference) "part_$part";;
  all) part_throughput; part_torch; part_memory; part_inference;;
  *) sed -n '2,16p' "$0"; exit 2;;
esac
