"""Test NLL against epoch for several run directories, beside published numbers.

  .venv/bin/python scripts/learning_curves.py --out=docs/discrete/sbn_k5 \
      --runs=vimco=runs/sbn_vimco_k5,rws_wake=runs/sbn_rws_k5 \
      --reference="VIMCO K=5, Mnih & Rezende 2016=93.6"

Reads each run's metrics.jsonl (its periodic `test` evaluations and its `final` one) and writes
OUT/learning_curves.md (a row per evaluated epoch, a column per run) and
OUT/learning_curves.png (the curves, each reference a dashed line).
"""

import pathlib
import sys

from absl import flags
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
from vaejax import runs
from vaejax.errors import UserError

_RUNS = flags.DEFINE_list('runs', None, 'label=run directory, comma-separated.', required=True)
_REFERENCE = flags.DEFINE_multi_string('reference', [],
                                       'label=published NLL in nats, a dashed line; repeatable.')
_OUT = flags.DEFINE_string('out', None, 'Folder for learning_curves.md and .png.', required=True)


def _pair(text: str, what: str) -> tuple[str, str]:
  label, sep, value = text.rpartition('=')
  if not sep or not label or not value:
    raise UserError(f'--{what} takes label=value, got {text!r}')
  return label, value


def curve(workdir: pathlib.Path) -> dict[int, float]:
  """{epoch: test NLL} from a run's test and final evaluations."""
  if not (workdir / runs.METRICS_FILE).exists():
    raise UserError(f'{workdir} has no {runs.METRICS_FILE}')
  records = runs.MetricsLog(workdir).records()
  epoch_at = {r['step']: r['epoch'] for r in records if r['split'] == 'train'}
  return {epoch_at[r['step']]: r['nll'] for r in records
          if r['split'] in ('test', 'final') and 'nll' in r and r['step'] in epoch_at}


def table(curves: dict[str, dict[int, float]]) -> str:
  epochs = sorted({e for c in curves.values() for e in c})
  lines = ['| epoch | ' + ' | '.join(f'{label} test NLL' for label in curves) + ' |',
           '|---|' + '---|' * len(curves)]
  for epoch in epochs:
    cells = [f'{c[epoch]:.2f}' if epoch in c else '-' for c in curves.values()]
    lines.append(f'| {epoch} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def plot(curves: dict[str, dict[int, float]], references: dict[str, float],
         path: pathlib.Path) -> None:
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, c in curves.items():
    epochs = sorted(c)
    ax.plot(epochs, [c[e] for e in epochs], marker='o', label=label)
  for (label, value), colour in zip(references.items(), ('k', 'grey', 'tab:red')):
    ax.axhline(value, linestyle='--', color=colour, label=f'{label}: {value:g}')
  ax.set_xlabel('epoch')
  ax.set_ylabel('test NLL (nats)')
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv):
  del argv
  curves = {}
  for text in _RUNS.value:
    label, workdir = _pair(text, 'runs')
    curves[label] = curve(pathlib.Path(workdir))
  references = {}
  for text in _REFERENCE.value:
    label, value = _pair(text, 'reference')
    try:
      references[label] = float(value)
    except ValueError:
      raise UserError(f'--reference: {value!r} is not a number') from None
  out = pathlib.Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  text = table(curves)
  (out / 'learning_curves.md').write_text(text)
  plot(curves, references, out / 'learning_curves.png')
  print(text, end='')


if __name__ == '__main__':
  cli.run(main)
