"""The library type-checks: mypy over ffjax/ at its default strictness (setup.cfg's [mypy]:
what is annotated must hold; the composition's pieces are typed where they are consumed,
Method, Assembly, Restored, LabelEncoder, Source). A wrong annotation or a call that
breaks one fails here, in CI."""
import pytest

from conftest import REPO


@pytest.mark.slow
def test_mypy_finds_no_error_in_the_library():
  from mypy import api
  out, err, code = api.run(['--config-file', str(REPO / 'setup.cfg'), '--no-incremental',
                            str(REPO / 'ffjax')])
  assert code == 0, out[-4000:] + err[-2000:]
  assert 'Success: no issues found' in out
