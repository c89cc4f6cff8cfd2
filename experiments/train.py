"""Trains and evaluates one VAE / IWAE model.

  python experiments/train.py --workdir=runs/iwae_k5 --config=vaejax/configs/quick.py
  python experiments/train.py --workdir=runs/vae_k1 --config=vaejax/configs/quick.py \
      --config.objective=vae --config.num_samples=1

The workdir receives config.json, metrics.jsonl, TensorBoard events, checkpoints and
results.json; running the same command again resumes from the newest checkpoint. With
vaejax/configs/quick.py (IWAE, K = 5, 10 epochs at batch 100) expect, after 2 minutes on
2 CPU cores: Test NLL 96.85 nats (ELBO -106.30, IWAE_k -101.22, KL 22.88, active units 47).
"""

from absl import flags
from absl import logging
from ml_collections import config_flags

import vaejax
import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', cli.config_path('default.py'), 'Config file (get_config()); override fields '
    'with --config.FIELD=VALUE.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory.', required=True)


def main(argv):
  del argv
  results = vaejax.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  logging.info('Test NLL %.2f nats (ELBO %.2f, IWAE_k %.2f, KL %.2f, active units %d).',
               results['nll'], results['elbo'], results['iwae_k'], results['kl'],
               results['active_units'])


if __name__ == '__main__':
  cli.run(main)
