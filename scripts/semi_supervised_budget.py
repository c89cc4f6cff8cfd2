"""A semi-supervised setting against a reference at the same number of updates and the same time.

  .venv/bin/python scripts/semi_supervised_budget.py \
      --run="IWAE K=5=docs/semi_supervised/m2_iwae5_draws123/curves_m2_n100.json" \
      --reference="ELBO K=1=docs/semi_supervised/m2_grey200_draws12/curves_m2_n100.json,docs/semi_supervised/m2_grey200_draws34/curves_m2_n100.json" \
      --out=docs/semi_supervised/k5_vs_k1.md

Reads the curves_<name>.json files experiments/semi_supervised.py --seeds=... writes (each
draw's validation and test error at every evaluation and its training seconds); a label's
draws may come from several files, comma-separated. The run
trained E epochs; the reference trained longer, at a rate that does not depend on its length
(a constant rate: its first E epochs are a run of E epochs). For each label draw in both, each
error is the test error at the least validation error among the evaluations a budget allows:
the run's at its end; the reference's up to epoch E (the same updates) and up to the epoch at
which it had trained as many seconds as the run (the same time: the run's seconds over the
reference's seconds per epoch, or --seconds_ratio times E where the two ran on different
machines). Writes a markdown table: a row per draw, their mean ± sample sd, and the run minus
the reference (mean ± sd of the paired differences).
"""

import json
import pathlib
import sys

from absl import flags
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
import semi_supervised_tables  # pylint: disable=g-import-not-at-top
from vaejax.errors import UserError

_RUN = flags.DEFINE_string('run', None, 'label=curves file of the setting.', required=True)
_REFERENCE = flags.DEFINE_string('reference', None, 'label=curves file(s) of the reference, '
                                 'trained longer.', required=True)
_SECONDS_RATIO = flags.DEFINE_float('seconds_ratio', None, 'Seconds per epoch of the run over '
                                    "the reference's (default: from the files' seconds).")
_OUT = flags.DEFINE_string('out', None, 'The markdown file to write.', required=True)


def read_curves(text: str) -> tuple[str, dict[int, dict]]:
  """label=path[,path...] -> (label, {seed: curve})."""
  label, sep, paths = text.rpartition('=')
  if not sep or not label:
    raise UserError(f'expected label=curves file, got {text!r}')
  curves = {}
  for path in paths.split(','):
    if not pathlib.Path(path).is_file():
      raise UserError(f'{path} is not a curves file')
    for curve in json.loads(pathlib.Path(path).read_text()):
      if curve['seed'] in curves:
        raise UserError(f'draw {curve["seed"]} of {label!r} is in two curves files')
      curves[curve['seed']] = curve
  return label, curves


def error_within(curve: dict, last_epoch: float) -> float:
  """The test error at the least validation error among the evaluations up to last_epoch (the
  first of equal ones, as training keeps its best parameters)."""
  allowed = [i for i, epoch in enumerate(curve['epoch']) if epoch <= last_epoch]
  if not allowed:
    raise UserError(f'draw {curve["seed"]} has no evaluation by epoch {last_epoch:g}')
  best = min(allowed, key=lambda i: curve['validation_error'][i])
  return curve['test_error'][best]


def compare(run: dict, reference: dict, seconds_ratio: float | None) -> list[dict]:
  """Per draw in both: the run's error, the reference's at the same updates and at the same
  time, and the reference epoch of the same time."""
  seeds = sorted(set(run) & set(reference))
  if not seeds:
    raise UserError('the run and the reference have no label draw in common')
  rows = []
  for seed in seeds:
    a, b = run[seed], reference[seed]
    epochs = a['num_epochs']
    ratio = seconds_ratio or (a['seconds'] / epochs) / (b['seconds'] / b['num_epochs'])
    same_time = ratio * epochs
    if max(epochs, same_time) > b['num_epochs']:
      raise UserError(f'draw {seed}: the reference trained {b["num_epochs"]} epochs, '
                      f'fewer than the {max(epochs, same_time):.0f} compared')
    rows.append({'seed': seed, 'epochs': epochs, 'same_time_epoch': same_time,
                 'run': error_within(a, epochs), 'same_updates': error_within(b, epochs),
                 'same_time': error_within(b, same_time)})
  return rows


def markdown(run_label: str, reference_label: str, rows: list[dict]) -> str:
  """The rows of compare() as a markdown table, their mean ± sd and the paired differences."""
  lines = [f'| draw | {run_label}, epochs | {run_label} test error % | {reference_label} at '
           'the same updates | its epoch of the same time | at the same time |',
           '|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f'| {r["seed"]} | {r["epochs"]} | {100 * r["run"]:.2f} | '
                 f'{100 * r["same_updates"]:.2f} | {r["same_time_epoch"]:.0f} | '
                 f'{100 * r["same_time"]:.2f} |')
  column = lambda k: [r[k] for r in rows]
  mean_sd = semi_supervised_tables.mean_sd
  lines.append(f'| mean ± sd | | {mean_sd(column("run"))} | {mean_sd(column("same_updates"))} '
               f'| | {mean_sd(column("same_time"))} |')
  difference = lambda k: mean_sd(np.subtract(column('run'), column(k)))
  lines.append(f'| {run_label} minus {reference_label} | | | {difference("same_updates")} | | '
               f'{difference("same_time")} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  run_label, run = read_curves(_RUN.value)
  reference_label, reference = read_curves(_REFERENCE.value)
  table = markdown(run_label, reference_label, compare(run, reference, _SECONDS_RATIO.value))
  pathlib.Path(_OUT.value).write_text(table)
  print(table, end='')


if __name__ == '__main__':
  cli.run(main)
