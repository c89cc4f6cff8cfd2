"""Gradient SNR against K, and the bound against evaluation K, for a saved run.

  python experiments/diagnose.py --workdir=runs/compare/iwae_k5 --num_samples=1,5,50

For each training K, the signal-to-noise ratio |E g| / std g of the gradient of the run's
objective (and of its DReG variant for IWAE-type objectives), averaged over the encoder's and
the decoder's parameters, on a fixed training batch (Rainforth et al. 2018: the encoder's
falls with K, the decoder's rises); then the IWAE_k bound on test images for each evaluation
k (it rises towards log p(x)). Prints JSON lines.
"""

import json

from absl import flags
import jax
import jax.numpy as jnp

import vaejax
import cli
from vaejax.bounds import diagnostics
from vaejax.bounds import estimators
from vaejax.bounds import objectives
from vaejax.data import datasets
from vaejax.training import trainstate

_WORKDIR = flags.DEFINE_string('workdir', None, 'A run directory.', required=True)
_NUM_SAMPLES = flags.DEFINE_list('num_samples', ['1', '5', '50'], 'Training K to measure.')
_ESTIMATORS = flags.DEFINE_list('estimators', ['reparam', 'dreg'], 'Encoder estimators.')
_NUM_DRAWS = flags.DEFINE_integer('num_draws', 100, 'Gradient draws per SNR.')
_BOUND_KS = flags.DEFINE_list('bound_ks', ['1', '5', '50', '500', '5000'], 'Evaluation k.')
_NUM_EXAMPLES = flags.DEFINE_integer('num_examples', 500, 'Test images for the bounds.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the batch and of the draws.')


def main(argv):
  del argv
  run = vaejax.load(_WORKDIR.value)
  config = run.config
  dataset = datasets.load(config.dataset, config.data_dir or None)
  analysis_key = jax.random.fold_in(trainstate.run_keys(config.seed).analysis, _SEED.value)
  batch_key, draw_key, test_key, bound_key = jax.random.split(analysis_key, 4)
  x = run.model.likelihood.prepare(batch_key,
                                   jnp.asarray(dataset.train_images[:config.batch_size]))
  for estimator in _ESTIMATORS.value:
    for k in (int(k) for k in _NUM_SAMPLES.value):
      objective = objectives.make_objective(config.objective, k, config.num_groups,
                                            config.ciwae_beta, estimator)
      estimators.check(objective, run.model, config.architecture)
      state = estimators.init_state(objective, draw_key, run.model.num_inputs) or {}
      if not set(state) <= set(run.params.get('estimator', {})):
        raise vaejax.UserError(f'estimator {estimator!r} needs the baseline or temperature it '
                               f'trains; this run trained {config.gradient_estimator!r}')
      snr = diagnostics.gradient_snr(run.model, objective, run.params, x, draw_key,
                                     _NUM_DRAWS.value)
      print(json.dumps({'objective': config.objective, 'estimator': estimator, 'k': k, **snr}))
  x_test = run.model.likelihood.prepare(
      test_key, jnp.asarray(dataset.test_images[:_NUM_EXAMPLES.value]))
  bounds = diagnostics.bound_vs_k(run.model, run.params, x_test, bound_key,
                                  [int(k) for k in _BOUND_KS.value])
  for k, bound in bounds.items():
    print(json.dumps({'eval_k': k, 'iwae_bound': bound}))


if __name__ == '__main__':
  cli.run(main)
