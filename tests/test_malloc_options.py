"""glibc malloc options: set at import where JAX computes on the CPU, so XLA's per-run
temporaries are reused instead of mapped and faulted in anew at every run; off by
FFJAX_MALLOC=none or where an accelerator will run; recorded in provenance."""
import json
import os
import subprocess
import sys

import pytest

from ffjax import malloc_options
from tests.conftest import REPO

glibc = pytest.mark.skipif(malloc_options._libc() is None, reason='glibc only')


def test_who_gets_the_options(monkeypatch, capsys):
  no_plugin = lambda name: None  # noqa: E731
  monkeypatch.setattr(malloc_options.importlib.util, 'find_spec', no_plugin)
  assert malloc_options.wanted({})
  assert not malloc_options.wanted({'FFJAX_MALLOC': 'none'})
  assert not malloc_options.wanted({'JAX_PLATFORMS': 'cuda'})
  assert malloc_options.wanted({'JAX_PLATFORMS': 'cpu'})
  assert malloc_options.apply({'FFJAX_MALLOC': 'None'}) == ()
  assert not malloc_options.wanted({'FFJAX_MALLOC': 'off'})
  assert not malloc_options.wanted({'FFJAX_MALLOC': '0'})
  # A GPU plugin installed: JAX will run there, unless JAX_PLATFORMS chooses the CPU.
  monkeypatch.setattr(malloc_options.importlib.util, 'find_spec',
                      lambda name: object() if name == 'jax_plugins' else None)
  assert not malloc_options.wanted({})
  assert malloc_options.wanted({'JAX_PLATFORMS': 'cpu,cuda'})
  assert malloc_options.wanted({'FFJAX_MALLOC': 'on'})
  capsys.readouterr()
  # A value it does not know (a typo of 'none') is said, not taken silently.
  assert not malloc_options.wanted({'FFJAX_MALLOC': 'noen'})  # the plugin's default: off
  assert "FFJAX_MALLOC='noen' is none of" in capsys.readouterr().err


# A program whose temporary (sin(x), 84 MB, read by a matrix product) is larger than a
# glibc thread arena's heap (64 MB): without the options, every run maps it anew.
FAULTS = """
import resource, json, sys
import ffjax, jax, jax.numpy as jnp
from ffjax import malloc_options, rundir
f = jax.jit(lambda x, w: jnp.sin(x) @ w)
x, w = jnp.ones((2560, 8192)), jnp.ones((8192, 8))
jax.block_until_ready(f(x, w))
faults = []
for _ in range(16):
  r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  y = jax.block_until_ready(f(x, w))
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)
print(json.dumps({'faults': faults, 'applied': malloc_options.applied(),
                  'provenance': rundir.provenance()['malloc_options'], 'value': float(y[0, 0])}))
"""


def _faults(env_extra):
  env = {k: v for k, v in os.environ.items() if k != 'FFJAX_MALLOC'}
  env.update(JAX_PLATFORMS='cpu', **env_extra)
  p = subprocess.run([sys.executable, '-c', FAULTS], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=300)
  assert p.returncode == 0, p.stderr[-2000:]
  return json.loads(p.stdout.strip().splitlines()[-1])


@glibc
def test_temporaries_are_reused_not_faulted_in_every_run():
  on, off = _faults({}), _faults({'FFJAX_MALLOC': 'none'})
  assert on['applied'] == ['M_ARENA_MAX=1', 'M_MMAP_MAX=0', 'M_TRIM_THRESHOLD=2147483647']
  assert off['applied'] == [] and off['provenance'] == ''
  assert on['provenance'] == ' '.join(on['applied'])  # in every run's config.json
  assert on['value'] == off['value'] == pytest.approx(8192 * 0.841471, rel=1e-5)
  # 84 MB is 20,480 pages of 4 KiB: every one of them faulted in at every run without the
  # options. With them the heap grows over the first runs (a new block while a small
  # allocation sits in the old one's place; more of them on a busy machine, RESULTS 35),
  # then runs reuse it: no faults.
  assert min(off['faults']) > 15000, off
  assert sum(f < 1000 for f in on['faults']) >= 4, on
