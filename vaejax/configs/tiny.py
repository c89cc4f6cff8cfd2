"""A smoke-test config: the paper's model, one short epoch, cheap evaluation (~10 s on CPU)."""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.update(objective='iwae', num_samples=2, batch_size=200, num_epochs=1,
                schedule='constant', eval_num_samples=8, eval_every_epochs=0,
                eval_batch_size=500, eval_chunk_size=8, checkpoint_every_epochs=1,
                snr_num_draws=4)
  return config
