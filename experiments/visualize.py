"""Pictures of a saved run: what training writes at each evaluation, plus interpolations.

  python experiments/visualize.py --workdir=runs/iwae_k5

Writes WORKDIR/pictures/<name>_<step>.png (and TensorBoard images): prior samples, test images
over their reconstructions, latent traversals, interpolations between pairs of test images
in latent space, and for a 2-D latent space the decoded manifold and the encoded test set
coloured by label.
"""

from absl import flags
import jax

import vaejax
import cli
from vaejax import pictures
from vaejax import runs
from vaejax.data import datasets
from vaejax.training import trainstate

_WORKDIR = flags.DEFINE_string('workdir', None, 'A run directory.', required=True)
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the prior samples.')
_NUM_PAIRS = flags.DEFINE_integer('num_pairs', 8, 'Interpolated pairs of test images.')


def main(argv):
  del argv
  run = vaejax.load(_WORKDIR.value)
  dataset = datasets.load(run.config.dataset, run.config.data_dir or None)
  x = dataset.test_images / 255.0
  analysis_key = trainstate.run_keys(run.config.seed).analysis
  images = pictures.all_pictures(run.model, run.params, x, dataset.test_labels,
                                 jax.random.fold_in(analysis_key, _SEED.value))
  n = _NUM_PAIRS.value
  images['interpolations'] = pictures.interpolations(run.model, run.params, x[:n],
                                                     x[n:2 * n])
  log = runs.MetricsLog(_WORKDIR.value)
  log.write_pictures(run.step, images)
  log.close()
  print(f'wrote {len(images)} pictures to {_WORKDIR.value}/{runs.PICTURES_DIR}')


if __name__ == '__main__':
  cli.run(main)
