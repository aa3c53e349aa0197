"""The memory benchmark's helper on tiny models: sane numbers, and the streamed step's
temporaries do not grow with depth while the fused step's do."""
from benchmarks import memory


def test_step_memory_is_sane_on_a_tiny_model():
  c = memory.make_config('ff', depth=2, width=8, batch=8)
  r = memory.step_memory(c)
  act = 8 * 32 * 32 * 8 * 4  # one unit's activations for 8 images, bytes
  assert r['params'] > 0 and r['arguments'] >= r['params']  # state: params + Adam moments
  assert r['temp'] > act                                      # at least one unit's activations
  # The state is donated: parameters and Adam's two moments are updated in place, so
  # the step's outputs reuse at least three parameters' worth of its inputs.
  assert r['aliased'] >= 3 * r['params'], r
  assert r['peak'] < 200 * 2 ** 20


def test_streamed_temporaries_stay_flat_as_depth_grows():
  act = 16 * 32 * 32 * 16 * 4  # one unit's activation map: 16 images, 16 channels, bytes
  temp = {(mode, d): memory.step_memory(memory.make_config(mode, d, 16, 16))['temp']
          for mode in ('asge', 'asge_streamed') for d in (4, 12)}
  per_unit = {m: (temp[(m, 12)] - temp[(m, 4)]) / 8 for m in ('asge', 'asge_streamed')}
  # fused: most of a map per unit (1.07 maps with XLA's own kernels, 0.77 under its oneDNN
  # options, whose convolutions write in place); streamed: about none
  assert per_unit['asge'] > 0.5 * act, (per_unit, act)
  assert per_unit['asge_streamed'] < 0.1 * act, (per_unit, act)


def test_throughput_counts_a_convolutions_flops():
  # The figure behind tflops and the fraction of peak: XLA's count of a conv is its
  # 2 B Cin Cout x (multiply-adds inside the image): of a 16-wide axis, a 3-tap SAME
  # kernel puts 14 * 3 + 2 * 2 = 46 taps on real pixels (not 16 * 3).
  import jax
  from benchmarks import throughput
  from ffjax import conv
  x, w = jax.numpy.ones((4, 16, 16, 8)), jax.numpy.ones((3, 3, 8, 12))
  flops = throughput.step_flops(jax.jit(conv.conv_lax), x, w)
  assert flops == 2 * 4 * 8 * 12 * 46 * 46, flops
  assert throughput.datasheet_peak('NVIDIA H100 80GB HBM3', 'bfloat16') == 989.4
  assert throughput.datasheet_peak('cpu', 'float32') is None
