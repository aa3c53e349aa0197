"""One step, pinned: the losses of two training steps and the parameters after them, for
one config of every method family, on a fixed batch (as nanodo's train_test).

These values were computed by the trainer before it was rebuilt (commit bd7f42d) and
prove that the rebuilt one computes the same thing. Update them only for a change that is
MEANT to change what a step computes (a new initialization, a different loss), and say
so in the commit message; a refactoring must leave them alone.
"""
import numpy as np
import pytest

from conftest import load_config, train_steps

SHAPES = {'cifar10': (32, 32, 3), 'resnet18_cifar10': (32, 32, 3)}

# (config, argument): (losses of step 1, losses of step 2, sum of |v| over the network's
# variables after step 2: parameters, batch-norm statistics, fixed projections)
PINNED = {
    ('mnist', 'tiny'): (
        {'loss': 9285.8955078125, 'loss_head': 2.643479824066162, 'loss_u1': 4620.86328125, 'loss_u2': 5240.5361328125, 'loss_u3': 4042.71533203125},
        {'loss': 8993.1787109375, 'loss_head': 3.660705089569092, 'loss_u1': 4620.86328125, 'loss_u2': 5086.04931640625, 'loss_u3': 3903.46826171875},
        1065.0544776594436),
    ('asge_mnist', 'tiny'): (
        {'loss': 17.271549224853516, 'loss_u1': 5.037894248962402, 'loss_u2': 2.3531603813171387, 'loss_u3': 2.316683530807495, 'loss_u4': 2.5963377952575684, 'loss_u5': 2.421616792678833, 'loss_u6': 2.5458579063415527},
        {'loss': 15.802054405212402, 'loss_u1': 3.9961888790130615, 'loss_u2': 2.302880048751831, 'loss_u3': 2.279001474380493, 'loss_u4': 2.439126491546631, 'loss_u5': 2.3299365043640137, 'loss_u6': 2.454921007156372},
        904.585593424129),
    ('resnet18_cifar10', 'tiny'): (
        {'loss': 41.71856689453125, 'loss_u1': 2.3015785217285156, 'loss_u10': 2.321082592010498, 'loss_u11': 2.6600124835968018, 'loss_u12': 2.334618091583252, 'loss_u13': 2.870441436767578, 'loss_u14': 2.333949089050293, 'loss_u15': 2.7408196926116943, 'loss_u16': 2.3329038619995117, 'loss_u17': 2.3476388454437256, 'loss_u2': 2.4432456493377686, 'loss_u3': 2.718593120574951, 'loss_u4': 2.3606019020080566, 'loss_u5': 2.5570316314697266, 'loss_u6': 2.2972817420959473, 'loss_u7': 2.3865885734558105, 'loss_u8': 2.280074119567871, 'loss_u9': 2.4321036338806152},
        {'loss': 41.59416198730469, 'loss_u1': 2.3030636310577393, 'loss_u10': 2.336557388305664, 'loss_u11': 2.653367519378662, 'loss_u12': 2.281404972076416, 'loss_u13': 2.9709293842315674, 'loss_u14': 2.356548309326172, 'loss_u15': 2.6194405555725098, 'loss_u16': 2.451084613800049, 'loss_u17': 2.303469181060791, 'loss_u2': 2.437624454498291, 'loss_u3': 2.675497531890869, 'loss_u4': 2.3569693565368652, 'loss_u5': 2.509347438812256, 'loss_u6': 2.301259994506836, 'loss_u7': 2.364109516143799, 'loss_u8': 2.266315460205078, 'loss_u9': 2.407170295715332},
        1779.719950369185),
    ('cwcomp', 'tiny'): (
        {'loss': 11.68969440460205, 'loss_head': 2.4094791412353516, 'loss_u1': 2.3276326656341553, 'loss_u2': 2.3167901039123535, 'loss_u3': 2.300957679748535, 'loss_u4': 2.3348352909088135},
        {'loss': 10.018558502197266, 'loss_head': 1.3078423738479614, 'loss_u1': 2.3162879943847656, 'loss_u2': 2.294978141784668, 'loss_u3': 2.0660276412963867, 'loss_u4': 2.0334224700927734},
        996.4075931790886),
    ('mnist_mlp', 'tiny'): (
        {'loss': 193.87901306152344, 'loss_head': 2.3025851249694824, 'loss_u1': 162.91421508789062, 'loss_u2': 17.043441772460938, 'loss_u3': 11.617857933044434},
        {'loss': 81.50507354736328, 'loss_head': 2.2803516387939453, 'loss_u1': 51.83940887451172, 'loss_u2': 15.88818359375, 'loss_u3': 11.495107650756836},
        5850.416105762732),
    ('mnist', 'tiny,method=bp'): (
        {'loss': 3.0811405181884766, 'loss_head': 3.0811405181884766},
        {'loss': 1.1218599081039429, 'loss_head': 1.1218599081039429},
        791.0602588812634),
    ('asge_mnist', 'tiny,method=hybrid'): (
        {'loss': 7.495356559753418, 'loss_u2': 2.3531603813171387, 'loss_u4': 2.5963382720947266, 'loss_u6': 2.5458579063415527},
        {'loss': 7.213919639587402, 'loss_u2': 2.301788330078125, 'loss_u4': 2.346020221710205, 'loss_u6': 2.5661110877990723},
        904.3762443719033),
    ('cifar10', 'cpu,tiny'): (
        {'loss': 2146.72216796875, 'loss_head': 2.8263678550720215, 'loss_u1': 6676.375, 'loss_u2': 500.10894775390625, 'loss_u3': 1600.405029296875, 'loss_u4': 43.381874084472656},
        {'loss': 1885.3145751953125, 'loss_head': 3.3377819061279297, 'loss_u1': 6636.888671875, 'loss_u2': 318.569091796875, 'loss_u3': 1534.883056640625, 'loss_u4': 28.524654388427734},
        767.5156658337911),
}


@pytest.mark.parametrize('name,arg', list(PINNED))
def test_two_steps_compute_the_pinned_values(name, arg):
  shape = SHAPES.get(name, (28, 28, 1))
  c = load_config(name, arg)
  c.train.batch_size = 16
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (16,) + shape, dtype=np.uint8)
  y = (np.arange(16) % 10).astype(np.int32)
  _, after, metrics = train_steps(c, x, y, n=2, image_shape=shape)
  want1, want2, want_sum = PINNED[(name, arg)]
  for got, want in zip(metrics, (want1, want2)):
    for k, v in want.items():
      assert float(got[k]) == pytest.approx(v, rel=2e-4, abs=1e-5), k
  total = sum(float(np.abs(np.asarray(p, np.float64)).sum()) for p in after)
  assert total == pytest.approx(want_sum, rel=1e-5)
