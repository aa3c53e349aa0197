"""XLA:CPU options: ffjax's common ones at import, a config's own at the start of its run;
a user's XLA_FLAGS and FFJAX_XLA_FLAGS always win, and what XLA ran with is recorded."""
import os
import subprocess
import sys

import pytest

from ffjax import cpu_options, parallel, rundir, train
from tests.conftest import REPO, load_config

ONEDNN = '--xla_cpu_use_onednn=true'


@pytest.fixture
def jaxlib_012(monkeypatch):
  monkeypatch.setattr(cpu_options, '_jaxlib_version', lambda: (0, 12))


def test_common_options_keep_what_the_user_named(jaxlib_012):
  env = {'XLA_FLAGS': '--xla_cpu_use_onednn=false --xla_force_host_platform_device_count=2'}
  added = cpu_options.apply(env)
  assert ONEDNN not in added and '--xla_cpu_experimental_onednn_custom_call=true' in added
  assert env['XLA_FLAGS'].split()[:2] == ['--xla_cpu_use_onednn=false',
                                          '--xla_force_host_platform_device_count=2']
  assert cpu_options.apply({'FFJAX_XLA_FLAGS': 'none'}) == ()
  env = {'FFJAX_XLA_FLAGS': '--xla_cpu_use_xnnpack=true'}
  assert cpu_options.apply(env) == ('--xla_cpu_use_xnnpack=true',)
  assert env['XLA_FLAGS'] == '--xla_cpu_use_xnnpack=true'


def test_an_untested_jaxlib_gets_no_options(monkeypatch):
  monkeypatch.setattr(cpu_options, '_jaxlib_version', lambda: (0, 99))
  assert cpu_options.chosen({}) == ()
  assert cpu_options.for_config(load_config('mobilenetv3_cifar10', 'tiny,method=bp'), {}) == ()


def test_a_config_adds_the_options_measured_for_its_family(jaxlib_012, monkeypatch):
  off = cpu_options.SCHEDULER_OFF
  for name in ('mobilenetv3_cifar10', 'resnet18_cifar10'):
    assert cpu_options.for_config(load_config(name, 'tiny,method=bp'), {}) == (off,)
    assert cpu_options.for_config(load_config(name, 'tiny'), {}) == ()  # FF: slower there
  assert cpu_options.for_config(load_config('mnist', 'tiny,method=bp'), {}) == ()
  bp = load_config('mobilenetv3_cifar10', 'tiny,method=bp')
  # FFJAX_XLA_FLAGS is the whole choice; a user's XLA_FLAGS naming the option wins.
  assert cpu_options.for_config(bp, {'FFJAX_XLA_FLAGS': ONEDNN}) == ()
  env = {'XLA_FLAGS': '--xla_cpu_enable_concurrency_optimized_scheduler=true'}
  assert cpu_options.apply_for(bp, env) == ()
  assert env['XLA_FLAGS'] == '--xla_cpu_enable_concurrency_optimized_scheduler=true'
  env = {'XLA_FLAGS': ONEDNN}
  assert cpu_options.apply_for(bp, env) == (off,) and env['XLA_FLAGS'] == f'{ONEDNN} {off}'
  monkeypatch.setattr(cpu_options, '_jaxlib_version', lambda: (0, 10))  # measured slower there
  assert cpu_options.for_config(load_config('resnet18_cifar10', 'tiny,method=bp'), {}) == ()


def test_options_added_before_the_backend_starts_reach_xla():
  # An option XLA does not know aborts the process when XLA parses XLA_FLAGS: when
  # apply_for adds one after import, that parse is still to come.
  code = ('import os, ffjax, jax.numpy as jnp\n'
          'from ffjax import cpu_options as o\n'
          'from tests.conftest import load_config\n'
          "o._jaxlib_version = lambda: (0, 12)\n"
          "o.BY_CONFIG = ((((0, 12), (0, 12)), 'bp', ('resnet18',), ('--xla_not_an_option=1',)),)\n"
          "print(o.apply_for(load_config('resnet18_cifar10', 'tiny,method=bp')), flush=True)\n"
          'jnp.ones(1).block_until_ready()\n'
          "print('backend started')\n")
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'FFJAX_XLA_FLAGS')}
  r = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=120)
  assert "('--xla_not_an_option=1',)" in r.stdout and 'backend started' not in r.stdout
  assert r.returncode != 0 and 'Unknown flag in XLA_FLAGS: --xla_not_an_option=1' in r.stderr


def test_after_the_backend_started_nothing_is_claimed(jaxlib_012):
  import jax
  jax.devices()  # started
  before = os.environ.get('XLA_FLAGS')
  assert cpu_options.apply_for(load_config('mobilenetv3_cifar10', 'tiny,method=bp')) == ()
  assert os.environ.get('XLA_FLAGS') == before
  assert rundir.provenance()['xla_flags'] == (before or '')


def test_a_run_adds_its_options_before_it_starts_the_backend(monkeypatch, tmp_path):
  calls = []

  class Stop(Exception):
    pass

  monkeypatch.setattr(cpu_options, 'apply_for', lambda config: calls.append('apply_for'))

  def make_mesh(*a, **k):
    calls.append('make_mesh')
    raise Stop

  monkeypatch.setattr(parallel, 'make_mesh', make_mesh)
  with pytest.raises(Stop):
    train.train_and_evaluate(load_config('mnist', 'tiny'), tmp_path / 'run')
  assert calls == ['apply_for', 'make_mesh']
