"""The results files of semi-supervised runs: results.json and its markdown table.

A summary is one row: a model, dataset, number of labels, objective and K, with per-draw lists
(seeds, test_error, baseline_error, test_ece, seconds, settings, machine, ...), as
experiments/semi_supervised.py writes them; `settings` (a hash per draw) says which rows of
different files are draws of one setting, `machine` the CPU each draw ran on.
"""

import hashlib
import json
import pathlib

import ml_collections
import numpy as np

import published
from vaejax.errors import UserError


def mean_sd(values) -> str:
  """Mean ± sample standard deviation (ddof 1) in percent; the mean alone for one value."""
  values = 100 * np.asarray(values, float)
  if values.size == 1:
    return f'{values[0]:.2f}'
  return f'{values.mean():.2f} ± {values.std(ddof=1):.2f}'


KEY = ('model', 'dataset', 'num_labels', 'objective', 'k')
# Per-draw numbers that a rerun of the same draw reproduces bit for bit (not 'seconds').
REPRODUCED = ('test_error', 'last_test_error', 'validation_error', 'test_ece', 'nll',
              'baseline_error', 'baseline_ece')


def settings_hash(config: ml_collections.ConfigDict,
                  m1: tuple[ml_collections.ConfigDict, int] | None = None) -> str:
  """What a draw's numbers depend on besides its seed, as 16 hex digits: the config but its
  seed and m1_workdir, and for M1 and M1 + M2 the M1 run's config and the step of its features."""
  fields = {k: v for k, v in config.to_dict().items() if k not in ('seed', 'm1_workdir')}
  if m1 is not None:
    fields['m1'] = {'config': m1[0].to_dict(), 'step': m1[1]}
  text = json.dumps(fields, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def merge(rows: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
  """(source, summary) rows of the same KEY and settings_hash (one for all their draws) as one
  row, their draws together and their sources joined by '+': runs of one setting made in
  different sessions. A draw in two of them counts once (the first); on the same machine
  (`machine`, the CPU a draw ran on: XLA rounds differently on others) it must have the same
  numbers, else a UserError. Rows without settings stay as they are."""
  merged, index = [], {}
  for source, summary in rows:
    summary = {k: (list(v) if isinstance(v, list) else v) for k, v in summary.items()}
    summary.setdefault('machine', [None] * len(summary['seeds']))  # Not recorded before.
    hashes = set(summary.get('settings', [None]))
    group = (tuple(summary[k] for k in KEY), hashes.pop()) if len(hashes) == 1 else None
    if group is None or group[1] is None or group not in index:
      if group is not None and group[1] is not None:
        index[group] = len(merged)
      merged.append((source, summary))
      continue
    first_source, first = merged[index[group]]
    per_draw = [k for k, v in first.items() if isinstance(v, list) and k != 'seeds']
    if set(per_draw) != {k for k, v in summary.items() if isinstance(v, list)} - {'seeds'}:
      raise UserError(f'{first_source} and {source} record different numbers per draw')
    for i, seed in enumerate(summary['seeds']):
      if seed in first['seeds']:
        j = first['seeds'].index(seed)
        if first['machine'][j] is None or first['machine'][j] != summary['machine'][i]:
          continue
        for k in REPRODUCED:
          if k in first and first[k][j] != summary[k][i]:
            raise UserError(f'draw {seed} of {first_source} and {source} differs in {k} '
                            f'({first[k][j]} against {summary[k][i]}) under the same settings '
                            f'on the same machine ({first["machine"][j]})')
        continue
      first['seeds'].append(seed)
      for k in per_draw:
        first[k].append(summary[k][i])
    merged[index[group]] = (f'{first_source}+{source}', first)
  return merged


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
        f"{len(s['seeds'])} | {mean_sd(s['test_error'])} | {100 * max(s['test_error']):.2f} | "
        f"{published_error} | {mean_sd(s['baseline_error'])} ({nn_error}) | "
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
