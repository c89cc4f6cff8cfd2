"""Strict numerics for every test: no implicit rank promotion, shared tiny configs."""

import jax
import pytest

from vaejax.configs import default

jax.config.update('jax_numpy_rank_promotion', 'raise')


def tiny_config(**overrides):
  """The paper's model on the bundled MNIST, one short epoch, cheap evaluation."""
  config = default.get_config()
  config.update(objective='iwae', num_samples=2, batch_size=200, num_epochs=1,
                schedule='constant', eval_num_samples=8, eval_every_epochs=0,
                eval_batch_size=500, eval_chunk_size=8, checkpoint_every_epochs=1,
                snr_num_draws=4)
  config.update(**overrides)
  return config


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
  """A one-epoch run shared by the tests that only read a finished run."""
  from vaejax import train
  workdir = tmp_path_factory.mktemp('trained')
  results = train.train_and_evaluate(tiny_config(), str(workdir))
  return workdir, results
