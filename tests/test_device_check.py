"""scripts/device_check.sh --cpu: the device check's steps at tiny sizes, end to end."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).parent.parent
CELLS = ('vae_k1', 'vae_k5', 'vae_k50', 'iwae_k5', 'iwae_k50')


@pytest.mark.heavy
def test_cpu_mode_writes_every_field_positive(tmp_path):
  out = tmp_path / 'device_check.json'
  subprocess.run(['bash', str(ROOT / 'scripts' / 'device_check.sh'), '--cpu', f'--out={out}'],
                 cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'), check=True,
                 capture_output=True, timeout=900)
  result = json.loads(out.read_text())
  assert result['backend'] == 'cpu' and result['tiny'] and result['devices'] >= 1
  assert 'xla_gpu_deterministic_ops=true' in result['xla_flags']
  assert sorted(result['epochs']) == sorted(CELLS)
  for name, epoch in result['epochs'].items():
    assert epoch['steps'] == result['sizes']['steps'] == 3, name
    assert epoch['batch_size'] == 20 and epoch['num_samples'] == int(name.split('_k')[1])
    for field in ('first_call_seconds', 'seconds', 'steps_per_s', 'examples_per_s'):
      assert epoch[field] > 0, (name, field)
  table = result['table1']
  assert table['models'] == 5 and table['steps'] == 3
  for field in ('first_call_seconds', 'seconds', 'one_after_another_seconds',
                'one_program_over_one_after_another', 'examples_per_s'):
    assert table[field] > 0, field
  # The table's program trains each cell as the cell alone does (up to float rounding).
  assert table['max_abs_difference_from_cells_alone'] < 1e-5
  assert result['determinism'] == {'steps': 3, 'identical': True, 'max_abs_difference': 0.0}
  ais = result['ais']
  assert ais['images'] == 2 and ais['num_steps'] == 3 and ais['num_chains'] == 2
  for field in ('seconds', 'seconds_per_image', 'mean_nll'):
    assert ais[field] > 0, field
