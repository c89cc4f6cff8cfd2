"""Times vaejax's real programs on the device this process has, and checks determinism there.

  scripts/device_check.sh           # on a GPU machine (installs the CUDA plugin first)
  scripts/device_check.sh --cpu     # anywhere: the same steps at tiny sizes

Steps (the programs are scripts/programs.py's, vaejax's own): the scanned epoch of every
Table-1 cell of the released one-layer setup (batch 20; VAE at K = 1, 5, 50, IWAE at 5, 50)
for --steps steps each; the five cells as one program for the same steps (against the cells
one after another, and its parameters against theirs); the IWAE K = 5 epoch run twice from
the same seed, its parameters compared bit for bit (experiments set
XLA_FLAGS=--xla_gpu_deterministic_ops=true; so does this); AIS of --ais_images test images
(T = 1000, 16 chains, 10 leapfrog steps). Each timed call follows an untimed one that
compiles it. Writes one JSON file.
"""

import json
import os
import pathlib
import sys
import time

from absl import flags
import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # programs.py
sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
import programs  # pylint: disable=g-import-not-at-top
from vaejax.errors import UserError

_OUT = flags.DEFINE_string('out', 'runs/device_check.json', 'The JSON file to write.')
_TINY = flags.DEFINE_bool('tiny', False, 'The same steps at tiny sizes (the CPU check).')
_STEPS = flags.DEFINE_integer('steps', 1000, 'Training steps per timed call.')
_AIS_IMAGES = flags.DEFINE_integer('ais_images', 100, 'Test images AIS scores.')
_AIS_STEPS = flags.DEFINE_integer('ais_steps', 1000, 'AIS T.')
_AIS_CHAINS = flags.DEFINE_integer('ais_chains', 16, 'AIS chains per image.')
_AIS_LEAPFROG = flags.DEFINE_integer('ais_leapfrog_steps', 10, 'AIS leapfrog steps (L).')
TINY = {'steps': 3, 'ais_images': 2, 'ais_steps': 3, 'ais_chains': 2, 'ais_leapfrog_steps': 2}


def sizes() -> dict:
  chosen = {name: flags.FLAGS[name].value for name in TINY}
  return dict(chosen, **TINY) if _TINY.value else chosen


def run_epoch(program, state=None):
  """Calls program (an epoch) once from its initial state, or from `state`; returns
  (seconds, the new state)."""
  args = programs.placed(program, program.make_args())
  if state is not None:
    args = (state,) + args[1:]
  start = time.perf_counter()
  state, metrics = program.fn(*args)
  metrics['loss'].block_until_ready()
  return time.perf_counter() - start, state


def time_epoch(program) -> tuple[dict, object]:
  """An untimed call (it compiles), then one timed call continuing from its state; returns
  the timings and the parameters after the first call."""
  first, state = run_epoch(program)
  params = jax.device_get(state.params)
  seconds, _ = run_epoch(program, state)
  return {'steps': program.steps, 'models': program.models, 'first_call_seconds': first,
          'seconds': seconds, 'steps_per_s': program.steps / seconds,
          'examples_per_s': program.steps * program.examples_per_step / seconds}, params


def max_abs_difference(a, b) -> float:
  return max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def same_seed_runs(program) -> dict:
  """The same epoch twice from the same seed: are the parameters identical, bit for bit?"""
  _, first = run_epoch(program)
  _, second = run_epoch(program)
  first, second = jax.device_get((first, second))
  pairs = list(zip(jax.tree.leaves(first.params), jax.tree.leaves(second.params)))
  return {'steps': program.steps, 'identical': all(np.array_equal(a, b) for a, b in pairs),
          'max_abs_difference': max_abs_difference(first.params, second.params)}


def main(argv):
  del argv
  s = sizes()
  if not _TINY.value and jax.default_backend() == 'cpu':
    raise UserError('no accelerator is visible to JAX (its backend is cpu): on a GPU machine '
                    'run scripts/device_check.sh, which installs the CUDA plugin; for the tiny '
                    'CPU check, scripts/device_check.sh --cpu')
  devices, dataset = jax.devices(), programs.load_mnist()
  result = {'backend': jax.default_backend(), 'device_kind': devices[0].device_kind,
            'devices': len(devices), 'jax': jax.__version__, 'tiny': _TINY.value,
            'xla_flags': os.environ.get('XLA_FLAGS', ''), 'sizes': s, 'epochs': {}}
  epochs, trained = {}, []
  for objective, k in programs.TABLE1_CELLS:
    config = programs.one_layer_config(objective, k)
    program = epochs[objective, k] = programs.train_epoch(config, dataset, devices,
                                                          num_steps=s['steps'])
    timings, params = time_epoch(program)
    trained.append(params)
    result['epochs'][f'{objective}_k{k}'] = dict(timings, batch_size=config.batch_size,
                                                 num_samples=k)
    print(f'{objective} K = {k}: {result["epochs"][f"{objective}_k{k}"]}', flush=True)
  table, table_params = time_epoch(programs.table1_epoch(
      programs.one_layer_config(), dataset, devices, num_steps=s['steps']))
  alone = sum(e['seconds'] for e in result['epochs'].values())
  result['table1'] = dict(table, one_after_another_seconds=alone,
                          one_program_over_one_after_another=table['seconds'] / alone,
                          max_abs_difference_from_cells_alone=max_abs_difference(
                              table_params, tuple(trained)))
  print(f'Table 1 as one program: {result["table1"]}', flush=True)
  result['determinism'] = same_seed_runs(epochs['iwae', 5])
  print(f'same seed twice: {result["determinism"]}', flush=True)
  options = programs.ais_options(s['ais_steps'], s['ais_chains'], s['ais_leapfrog_steps'])
  config = programs.one_layer_config()
  programs.ais_test_images(config, dataset, options, min(s['ais_images'], 20))()  # Compiles.
  start = time.perf_counter()
  log_px = programs.ais_test_images(config, dataset, options, s['ais_images'])()
  seconds = time.perf_counter() - start
  result['ais'] = {'images': s['ais_images'], 'num_steps': options.num_steps,
                   'num_chains': options.num_chains,
                   'num_leapfrog_steps': options.num_leapfrog_steps, 'seconds': seconds,
                   'seconds_per_image': seconds / s['ais_images'],
                   'mean_nll': float(-np.mean(log_px))}
  print(f'AIS: {result["ais"]}', flush=True)
  out = pathlib.Path(_OUT.value)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=1) + '\n')
  print(f'wrote {out}')


if __name__ == '__main__':
  cli.run(main)
