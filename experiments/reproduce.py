"""Retrains a run from its directory alone and says whether it came out bit for bit the same.

  python experiments/reproduce.py --run=runs/iwae_k5 --workdir=runs/iwae_k5_again [--epochs=2]

Trains OLD_RUN's config.json into --workdir (all of it, or its first --epochs epochs; an
interrupted reproduction resumes), then compares metrics.jsonl record by record and the
parameters at the new run's last checkpoint (where the old run kept one at that step), and
prints the verdict, the first record that differs, and both runs' versions and devices. Exit
status 0 when everything compared matches, 2 when not, 1 for a bad flag.
"""

import json

from absl import flags

import vaejax
import cli
from vaejax import runs

_RUN = flags.DEFINE_string('run', None, 'The run directory to reproduce.', required=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory of the retrained run.',
                               required=True)
_EPOCHS = flags.DEFINE_integer('epochs', None, 'Retrain only the first N epochs.')


def report(comparison: dict) -> str:
  """The comparison (runs.compare) in a few lines."""
  lines = []
  difference = comparison['first_difference']
  if difference is None:
    lines.append(f"metrics.jsonl: the {comparison['records']} records match bit for bit")
  else:
    lines += [f"metrics.jsonl: record {difference['line']} differs",
              f"  old: {json.dumps(difference['old'])}",
              f"  new: {json.dumps(difference['new'])}"]
  params = {True: 'match bit for bit', False: 'differ',
            None: 'not compared (the old run kept no checkpoint there)'}
  lines.append(f"parameters at step {comparison['step']}: {params[comparison['params_equal']]}")
  for which in ('old', 'new'):
    lines.append(f"{which} run: {json.dumps(comparison['environment'][which])}")
  return '\n'.join(lines)


def main(argv):
  del argv
  if _EPOCHS.value is not None and _EPOCHS.value < 1:
    raise vaejax.UserError(f'--epochs must be at least 1, got {_EPOCHS.value}')
  config = runs.read_config(_RUN.value)
  vaejax.train_and_evaluate(config, _WORKDIR.value, stop_after_epochs=_EPOCHS.value)
  comparison = runs.compare(_RUN.value, _WORKDIR.value)
  same = comparison['first_difference'] is None and comparison['params_equal'] is not False
  print(('REPRODUCED' if same else 'DIFFERENT') + '\n' + report(comparison))
  if not same:
    raise SystemExit(2)


if __name__ == '__main__':
  cli.run(main)
