"""The config of an existing run directory, to train that run again elsewhere.

  python experiments/train.py --config=vaejax/configs/from_run.py:OLD_RUN --workdir=NEW

Fields can still be overridden (--config.FIELD=VALUE).
"""

import ml_collections

from vaejax import runs
from vaejax.errors import UserError


def get_config(workdir: str = '') -> ml_collections.ConfigDict:
  if not workdir:
    raise UserError('name the run: --config=vaejax/configs/from_run.py:RUN_DIR')
  return runs.read_config(workdir)
