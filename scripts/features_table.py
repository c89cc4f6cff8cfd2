"""The probes of a VAE run's features along its training, as one table.

  .venv/bin/python scripts/features_table.py --workdir=runs/m1 \
      --out=docs/semi_supervised/m1_probe_hidden.md

Reads every features_n<N>_seed<S>_step<STEP>_<SCALING>_b<B>[_logistic].json that
experiments/features.py wrote into the run (one per checkpoint and choice of features) and
writes a markdown table, a row per file ordered by step: its epoch (from the run's
metrics.jsonl), labels, label draw and choices, then the test error of each input it probed
(the latent means, the encoder's last hidden layer, the pixels) with its classifier, and how
many points each input beats the pixels by. The same rows go to the .json beside --out.
"""

import json
import pathlib
import re
import sys

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
from vaejax.errors import UserError

_WORKDIR = flags.DEFINE_string('workdir', None, 'A run probed by experiments/features.py.',
                               required=True)
_OUT = flags.DEFINE_string('out', None, 'The markdown file to write.', required=True)
NAME = re.compile(r'features_n(\d+)_seed(\d+)_step(\d+)_([a-z]+)_b(\d+)(_logistic)?\.json')
INPUTS = ('latent means', 'encoder hidden layer')


def epochs_by_step(workdir: pathlib.Path) -> dict[int, int]:
  """{step: epoch} of the run's training records."""
  records = (json.loads(line) for line in (workdir / 'metrics.jsonl').open())
  return {r['step']: r['epoch'] for r in records if 'epoch' in r}


def read_rows(workdir: pathlib.Path) -> list[dict]:
  """A row per features file, ordered by step, then labels, draw and choices."""
  epochs = epochs_by_step(workdir)
  rows = []
  for path in workdir.glob('features_*.json'):
    match = NAME.fullmatch(path.name)
    if not match:
      continue
    n, seed, step, scaling, binarizations, logistic = match.groups()
    row = {'step': int(step), 'epoch': epochs.get(int(step)), 'num_labels': int(n),
           'seed': int(seed), 'scaling': scaling, 'binarizations': int(binarizations),
           'classifiers': 'logistic' if logistic else 'both'}
    row.update(json.loads(path.read_text()))
    rows.append(row)
  if not rows:
    raise UserError(f'{workdir} has no features_*.json: run experiments/features.py on it')
  key = lambda r: (r['step'], r['num_labels'], r['seed'], r['scaling'], r['binarizations'],
                   r['classifiers'])
  return sorted(rows, key=key)


def markdown(rows: list[dict]) -> str:
  lines = ['| epoch | labels | draw | scaling | binarizations | classifiers | '
           + ' | '.join(f'{name}: test error % (classifier; beats pixels by)' for name in INPUTS)
           + ' | pixels: test error % (classifier) |',
           '|---|---|---|---|---|---|' + '---|' * (len(INPUTS) + 1)]
  for r in rows:
    pixels = r['pixels']['test_error']
    cells = []
    for name in INPUTS:
      if name in r:
        cells.append(f"{100 * r[name]['test_error']:.2f} ({r[name]['classifier']}, "
                     f"{r[name]['units']} units; {100 * (pixels - r[name]['test_error']):.2f})")
      else:
        cells.append('-')
    lines.append(f"| {r['epoch']} | {r['num_labels']} | {r['seed']} | {r['scaling']} | "
                 f"{r['binarizations']} | {r['classifiers']} | {' | '.join(cells)} | "
                 f"{100 * pixels:.2f} ({r['pixels']['classifier']}) |")
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  workdir = pathlib.Path(_WORKDIR.value)
  if not (workdir / 'metrics.jsonl').is_file():
    raise UserError(f'{workdir} is not a run directory (no metrics.jsonl)')
  rows = read_rows(workdir)
  out = pathlib.Path(_OUT.value)
  table = markdown(rows)
  out.write_text(table)
  out.with_suffix('.json').write_text(json.dumps(rows, indent=1) + '\n')
  print(table, end='')


if __name__ == '__main__':
  cli.run(main)
