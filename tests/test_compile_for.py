"""scripts/compile_for.py: a real program compiled for a TPU slice, the projections' arithmetic,
and its one-line errors. The TPU tests need libtpu (the tpu extra, which .ci/run installs):
skipped without it, except in CI, where its absence fails them."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import jax
import pytest

ROOT = pathlib.Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / 'scripts'))
import compile_for  # pylint: disable=g-import-not-at-top,wrong-import-position
import programs  # pylint: disable=g-import-not-at-top,wrong-import-position
from conftest import tiny_config  # pylint: disable=g-import-not-at-top,wrong-import-position

needs_libtpu = pytest.mark.skipif(
    importlib.util.find_spec('libtpu') is None and not os.environ.get('CI'),
    reason='needs libtpu: VAEJAX_EXTRAS=tpu bash scripts/setup_venv.sh')


def _script(*args, code_before=''):
  """compile_for.py run as a file (after code_before), its CompletedProcess."""
  code = (f'{code_before}\nimport runpy, sys\nsys.argv = {["compile_for.py", *args]!r}\n'
          f'runpy.run_path({str(ROOT / "scripts" / "compile_for.py")!r}, run_name="__main__")')
  return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        cwd=ROOT, timeout=300, check=False)


@needs_libtpu
def test_sharded_epoch_compiles_for_a_tpu_slice():
  """The scanned epoch of a tiny config, its batch split over a v5e:2x2 slice: an all-reduce in
  the program, about a quarter of the one-device FLOPs per device (Adam's update is not
  split), its memory plan read."""
  devices = compile_for.topology_devices('v5e:2x2')
  assert len(devices) == 4 and 'v5' in devices[0].device_kind.lower()
  dataset, config = programs.load_mnist(), tiny_config(batch_size=80)
  split = programs.train_epoch(config, dataset, devices, num_steps=2, data_parallel=True)
  alone = programs.train_epoch(config, dataset, devices, num_steps=1)
  assert split.mesh.devices.size == 4
  compiled = programs.compile_program(split)
  assert 'all-reduce' in compiled.as_text()
  hbm = compile_for.hbm_per_device('v5e:2x2', devices)
  assert hbm == 16 * 2**30
  memory = compile_for.memory(compiled, hbm)
  state_bytes = sum(x.size * x.dtype.itemsize
                    for x in jax.tree.leaves(split.make_args()[0].params))
  assert memory['arguments'] >= state_bytes and memory['outputs'] >= state_bytes
  assert memory['total'] > 0 and memory['fits']
  split_flops = compile_for.cost(compiled)['flops']
  alone_cost = compile_for.cost(programs.compile_program(alone))
  assert alone_cost['optimal_seconds'] > 0
  assert 0.2 < split_flops / alone_cost['flops'] < 0.35


@needs_libtpu
def test_topology_libtpu_refuses_is_one_line_error():
  result = _script('--topology=v5e:3x3', '--programs=m2')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [result.stderr.strip()]
  assert result.stderr.startswith("error: TPU topology 'v5e:3x3' does not compile here")
  assert 'v5e:2x2' in result.stderr


def test_unknown_topology_is_one_line_error_listing_those_that_work():
  result = _script('--topology=v9x:2x2')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      "error: unknown TPU topology 'v9x:2x2'; these compile here: v5e:1x1, v5e:2x2, v5e:2x4, "
      'v4:2x2x1, v5p:2x2x1, v6e:2x2']


def test_without_libtpu_is_one_line_error_saying_how_to_install():
  result = _script('--topology=v5e:2x2', code_before="import sys; sys.modules['libtpu'] = None")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      'error: compiling for a TPU needs the libtpu package (about 700 MB); install it with '
      'VAEJAX_EXTRAS=tpu bash scripts/setup_venv.sh (or .venv/bin/pip install '
      '--require-hashes --no-deps -r requirements-tpu.lock)']


def test_table_projection_against_a_hand_computation():
  # Steps of 100 and 200 us, one program of 250 us, 2980 steps an epoch, 3280 epochs:
  # 9,774,400 steps -> 977.44 s, 1954.88 s and 2443.6 s; 33 evaluations of 10 s = 330 s.
  p = compile_for.table_projection({'a': 1e-4, 'b': 2e-4}, 2.5e-4, 2980, 10.0, 33, 3280)
  assert p['cells']['a']['train_hours'] == pytest.approx(977.44 / 3600)
  assert p['cells']['b']['evaluation_hours'] == pytest.approx(330 / 3600)
  assert p['cells']['b']['hours'] == pytest.approx((1954.88 + 330) / 3600)
  assert p['one_after_another_hours'] == pytest.approx((977.44 + 1954.88 + 660) / 3600)
  assert p['one_program_hours'] == pytest.approx((2443.6 + 660) / 3600)
  assert p['one_program_over_one_after_another'] == pytest.approx(3103.6 / 3592.32)


def test_evaluation_counts_and_seconds_by_hand():
  assert compile_for.num_evaluations(3280, 100) == 33  # epochs 100, ..., 3200, and the last
  assert compile_for.num_evaluations(10, 5) == 2  # epoch 5, and the last (10)
  assert compile_for.num_evaluations(3, 0) == 1
  # 10,000 images in batches of 100, 5000 samples in chunks of 100: 100 x 50 calls of 2 ms.
  assert compile_for.evaluation_seconds(2e-3, 10_000, 100, 5000, 100) == pytest.approx(10.0)
  assert compile_for.schedule_seconds(1e-4, 2980) == pytest.approx(977.44)


class _Compiled:
  """What cost() reads of a compiled program."""

  def __init__(self, optimal_seconds, text):
    self._cost = {'flops': 1.0, 'bytes accessed': 2.0, 'optimal_seconds': optimal_seconds}
    self._text = text

  def cost_analysis(self):
    return self._cost

  def as_text(self):
    return self._text


def test_unpriced_calls_are_left_out_of_the_estimate():
  # Each ConcatBitcast call counts -1 s in XLA's TPU estimate: -6 + 216 us with six of them.
  text = 'x = f32[2] custom-call(y), custom_call_target="ConcatBitcast"\n' * 6
  c = compile_for.cost(_Compiled(-6 + 216e-6, text))
  assert c['unpriced_calls'] == 6 and c['optimal_seconds'] == pytest.approx(216e-6)
  assert compile_for.cost(_Compiled(3e-5, ''))['optimal_seconds'] == 3e-5
  with pytest.raises(RuntimeError):
    compile_for.cost(_Compiled(-2.5, text[:len(text) // 6]))
