"""The results files of semi-supervised runs: results.json and its markdown table.

A summary is one row: a model, dataset, number of labels, objective and K, with per-draw lists
(seeds, test_error, baseline_error, test_ece, seconds, ...), as experiments/semi_supervised.py
writes them.
"""

import json
import pathlib

import numpy as np

import published


def _mean_sd(values) -> str:
  """Mean ± sample standard deviation (ddof 1) in percent; the mean alone for one value."""
  values = 100 * np.asarray(values, float)
  if values.size == 1:
    return f'{values[0]:.2f}'
  return f'{values.mean():.2f} ± {values.std(ddof=1):.2f}'


KEY = ('model', 'dataset', 'num_labels', 'objective', 'k')


def markdown_table(summaries: list[dict], sources: list[str] | None = None) -> str:
  """A row per summary: the test error beside Kingma et al.'s (MNIST only) and the
  supervised-only baseline's; with sources, a first column naming where each row is from."""
  lines = ['| model | labels | objective | K | seeds | test error % | worst draw % | published '
           '| supervised-only % (published NN) | test ECE (supervised-only) | minutes per seed |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  if sources is not None:
    lines = ['| run ' + lines[0], '|---' + lines[1]]
  for i, s in enumerate(summaries):
    table = published.SEMI_SUPERVISED_TABLE if s['dataset'] == 'mnist' else {}
    published_error = table.get(s['model'], {}).get(s['num_labels'])
    nn_error = table.get('nn', {}).get(s['num_labels'])
    lines.append(
        ('' if sources is None else f'| {sources[i]} ') +
        f"| {s['model']} | {s['num_labels']} | {s['objective']} | {s['k']} | "
        f"{len(s['seeds'])} | {_mean_sd(s['test_error'])} | {100 * max(s['test_error']):.2f} | "
        f"{published_error} | {_mean_sd(s['baseline_error'])} ({nn_error}) | "
        f"{np.mean(s['test_ece']):.3f} ({np.mean(s.get('baseline_ece', [np.nan])):.3f}) | "
        f"{np.mean(s['seconds']) / 60:.1f} |")
  return '\n'.join(lines) + '\n'


def record(workdir: pathlib.Path, summary: dict) -> list[dict]:
  """Adds summary to WORKDIR/results.json (replacing one of the same KEY); all of them."""
  path = workdir / 'results.json'
  summaries = json.loads(path.read_text()) if path.exists() else []
  same = lambda s: all(s[k] == summary[k] for k in KEY)
  summaries = [s for s in summaries if not same(s)] + [summary]
  path.write_text(json.dumps(summaries, indent=2) + '\n')
  (workdir / 'results.md').write_text(markdown_table(summaries))
  return summaries
