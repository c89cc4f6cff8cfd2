"""log p(x) of a saved run's test images by importance sampling, AIS or quadrature; or BDMC.

  python experiments/evaluate.py --workdir=runs/z2 --method=is --num_images=100
  python experiments/evaluate.py --workdir=runs/z2 --method=ais --num_images=100 \
      --num_steps=1000 --num_chains=16 --num_leapfrog_steps=10
  python experiments/evaluate.py --workdir=runs/z2 --method=quadrature --num_images=100
  python experiments/evaluate.py --workdir=runs/z2 --method=bdmc --num_images=20 --num_steps=100

is, ais and quadrature score the first --num_images test images, binarized (or prepared by the
run's likelihood) with a key from the run's analysis key, so every method sees the same images.
bdmc scores images simulated from the model: forward AIS's lower bound and reverse AIS's upper
bound on their log p(x) (vaejax/logpx/ais.py). Writes evaluation_<method>.json into the run
directory (summary and per-image values) and prints a table: method, images, log p(x) mean +- standard
error, seconds.
"""

import json
import pathlib
import time

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

import vaejax
import cli
from vaejax.data import datasets
from vaejax.logpx import ais
from vaejax.logpx import marginal
from vaejax.training import loop
from vaejax.training import trainstate

_WORKDIR = flags.DEFINE_string('workdir', None, 'A run directory.', required=True)
_METHOD = flags.DEFINE_enum('method', 'ais', marginal.METHODS + ('bdmc',), 'Estimator.')
_NUM_IMAGES = flags.DEFINE_integer('num_images', 100, 'Test (or simulated) images to score.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 20, 'Images per compiled call.')
_SEED = flags.DEFINE_integer('seed', 0, 'Folded into the run\'s analysis key.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 5000, 'is: importance samples per image.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 1000, 'ais, bdmc: intermediate distributions T.')
_NUM_CHAINS = flags.DEFINE_integer('num_chains', 16, 'ais, bdmc: chains per image.')
_NUM_LEAPFROG = flags.DEFINE_integer('num_leapfrog_steps', 10, 'ais, bdmc: leapfrog steps L.')
_START = flags.DEFINE_enum('start', 'prior', ais.STARTS, 'ais, bdmc: p(z) or q(z | x).')
_HALF_WIDTH = flags.DEFINE_float('half_width', 6.0, 'quadrature: the grid covers [-L, L]^2.')
_NUM_POINTS = flags.DEFINE_integer('num_points', 400, 'quadrature: grid points per axis.')


class Progress:
  """Logs images done and time left, at most every loop.LOG_EVERY_SECONDS."""

  def __init__(self, num_images: int):
    self._num_images = num_images
    self._start = time.monotonic()
    self._last_log = self._start

  def __call__(self, done: int) -> None:
    now = time.monotonic()
    if done < self._num_images and now - self._last_log < loop.LOG_EVERY_SECONDS:
      return
    self._last_log = now
    left = (now - self._start) / done * (self._num_images - done)
    logging.info('%d/%d images, %.0f s left', done, self._num_images, left)


def _options() -> dict:
  if _METHOD.value == 'is':
    return {'num_samples': _NUM_SAMPLES.value}
  if _METHOD.value == 'quadrature':
    return {'half_width': _HALF_WIDTH.value, 'num_points': _NUM_POINTS.value}
  return {'num_steps': _NUM_STEPS.value, 'num_chains': _NUM_CHAINS.value,
          'num_leapfrog_steps': _NUM_LEAPFROG.value, 'start': _START.value}


def _summary(values: np.ndarray) -> dict:
  return {'mean': float(np.mean(values)),
          'stderr': float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1
                    else 0.0}


def main(argv):
  del argv
  if _NUM_IMAGES.value < 1 or _BATCH_SIZE.value < 1:
    raise vaejax.UserError('--num_images and --batch_size must be at least 1')
  run = vaejax.load(_WORKDIR.value)
  key = jax.random.fold_in(trainstate.run_keys(run.config.seed).analysis, _SEED.value)
  images_key, method_key = jax.random.split(key)
  method, options, progress = _METHOD.value, _options(), Progress(_NUM_IMAGES.value)
  start = time.monotonic()
  if method == 'bdmc':
    x, z = ais.simulate(run.model, run.params, images_key, _NUM_IMAGES.value)
    bounds = ais.bdmc(ais.VAEPath(run.model, _START.value), run.params, x, z, method_key,
                      ais.Options(**options), _BATCH_SIZE.value, progress)
    per_image = {'lower': bounds['log_px'], 'upper': bounds['upper'],
                 'gap': bounds['upper'] - bounds['log_px']}
  else:
    dataset = datasets.load(run.config.dataset, run.config.data_dir or None)
    images = jnp.asarray(dataset.test_images[:_NUM_IMAGES.value])
    x = run.model.likelihood.prepare(images_key, images)
    per_image = {'log_px': marginal.log_likelihood(run.model, run.params, x, method_key, method,
                                                   _BATCH_SIZE.value, progress, **options)}
  seconds = time.monotonic() - start
  results = {'method': method, 'num_images': len(x), 'options': options, 'seconds': seconds,
             **{name: _summary(v) for name, v in per_image.items()},
             'per_image': {name: np.asarray(v).tolist() for name, v in per_image.items()}}
  (pathlib.Path(_WORKDIR.value) / f'evaluation_{method}.json').write_text(
      json.dumps(results, indent=2) + '\n')
  print('| method | images | log p(x) | seconds |')
  print('|---|---|---|---|')
  for name in per_image:
    label = method if name == 'log_px' else f'{method} {name}'
    print(f"| {label} | {len(x)} | {results[name]['mean']:.2f} ± {results[name]['stderr']:.2f} "
          f'| {seconds:.1f} |')


if __name__ == '__main__':
  cli.run(main)
