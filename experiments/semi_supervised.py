"""Semi-supervised MNIST classification with few labels: M1, M2 and M1 + M2 (Kingma et al.).

  python experiments/semi_supervised.py --workdir=runs/m2 \
      --config=vaejax/configs/semi_supervised_quick.py
  python experiments/semi_supervised.py --workdir=runs/ssl --model=m2 --seeds=0,1,2,3,4 \
      --config=vaejax/configs/semi_supervised_quick.py

--model=m2 trains M2 on the images; m1m2 trains M2 on the latent means of an unsupervised run
(--config.m1_workdir, or one trained here into WORKDIR/m1 with --m1_config); m1 fits a
classifier (logistic regression or an MLP, chosen on the validation set) on those latent
means. Without --seeds, WORKDIR is the one run's directory. With --seeds, each seed (a draw of
the labelled images) is an ordinary resumable run directory WORKDIR/<model>_n<N>_seed<S>, and
WORKDIR receives results.md and results.json: the test error (at the best validation error)
per model, N, objective and K (one row each; later commands add rows), mean and standard
deviation over the seeds, beside Kingma et al.'s and beside a supervised-only baseline, M2's
classifier network trained on the labelled images alone.

With vaejax/configs/semi_supervised_quick.py (M2, 100 labels, 40 epochs) expect, after about
6 minutes a seed on an idle 2-core CPU, a test error of 12-15% (13.9 +- 1.0 over seeds 0, 1, 2)
against the supervised-only baseline's 24% (README).
"""

import json
import pathlib
import time

from absl import flags
from absl import logging
import numpy as np
from ml_collections import config_flags

import vaejax
import cli
import published
from vaejax import classifiers
from vaejax import data
from vaejax import semisupervised
from vaejax import splits

_CONFIG = config_flags.DEFINE_config_file(
    'config', cli.config_path('semi_supervised.py'), 'Semi-supervised config file; override '
    'fields with --config.FIELD=VALUE.', lock_config=False)
_M1_CONFIG = config_flags.DEFINE_config_file(
    'm1_config', cli.config_path('quick.py'), 'Config of the unsupervised M1 run trained into '
    'WORKDIR/m1 when config.m1_workdir is empty (m1 and m1m2).', lock_config=False)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (with --seeds: their parent).',
                               required=True)
_MODEL = flags.DEFINE_enum('model', 'm2', ('m1', 'm2', 'm1m2'), 'What to train.')
_SEEDS = flags.DEFINE_list('seeds', None, 'Label draws: one run each, and results.md.')
PROBE_FILE = 'probe.json'


def _cached(path: pathlib.Path, compute) -> dict:
  """compute()'s dict, stored at path the first time and read back afterwards."""
  if path.exists():
    return json.loads(path.read_text())
  result = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(result, indent=2) + '\n')
  return result


def m1_workdir(config, workdir: pathlib.Path) -> str:
  """config.m1_workdir, or an unsupervised run trained (or resumed) into WORKDIR/m1."""
  if config.m1_workdir:
    return config.m1_workdir
  m1_config = _M1_CONFIG.value
  m1_config.dataset, m1_config.data_dir = config.dataset, config.data_dir
  m1_config.latent_dim = config.latent_dim
  vaejax.train_and_evaluate(m1_config, str(workdir / 'm1'))
  return str(workdir / 'm1')


def labelled_split(config) -> tuple[data.Dataset, splits.Splits]:
  """The config's dataset and its splits for the config's seed and num_labels."""
  dataset = data.load(config.dataset, config.data_dir or None)
  return dataset, splits.make_splits(dataset.train_labels, config.num_labels,
                                     config.num_validation, config.seed)


def m1_probe(config, run_dir: pathlib.Path) -> dict:
  """M1: a classifier on the M1 run's standardized latent means of the labelled images."""
  def compute():
    start = time.monotonic()
    dataset, s = labelled_split(config)
    m1 = semisupervised.m1_features(config, dataset)[0]
    result = classifiers.probe(m1.train_images, m1.train_labels, m1.test_images,
                               m1.test_labels, s, vaejax.trainstate.run_keys(config.seed).analysis)
    return {**result, 'seconds': time.monotonic() - start}
  return _cached(run_dir / PROBE_FILE, compute)


def baseline(config, workdir: pathlib.Path) -> dict:
  """M2's classifier network trained on the labelled images alone (cached per N and seed)."""
  def compute():
    dataset, s = labelled_split(config)
    return classifiers.probe(dataset.train_images / 255.0, dataset.train_labels,
                             dataset.test_images / 255.0, dataset.test_labels, s,
                             vaejax.trainstate.run_keys(config.seed).analysis,
                             hiddens=((config.hidden_units,),))
  return _cached(workdir / f'baseline_n{config.num_labels}_seed{config.seed}.json', compute)


def train_one(config, run_dir: pathlib.Path) -> dict:
  """One label draw: {'test_error', 'validation_error', 'test_ece', 'seconds', ...}."""
  if _MODEL.value == 'm1':
    return m1_probe(config, run_dir)
  results = semisupervised.train_and_evaluate(config, str(run_dir))
  return {'test_error': results['test_error_at_best_validation'],
          'last_test_error': results['test_error'],
          'validation_error': results['best_validation_error'],
          'test_ece': results['test_ece'], 'nll': results['nll'],
          'seconds': results['train_seconds']}


def _mean_sd(values) -> str:
  values = 100 * np.asarray(values, float)
  return f'{values.mean():.2f} ± {values.std():.2f}'


KEY = ('model', 'dataset', 'num_labels', 'objective', 'k')


def markdown_table(summaries: list[dict]) -> str:
  """A row per summary: the test error beside Kingma et al.'s (MNIST only) and the
  supervised-only baseline's."""
  lines = ['| model | labels | objective | K | seeds | test error % | published | '
           'supervised-only % (published NN) | test ECE | minutes per seed |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for s in summaries:
    table = published.SEMI_SUPERVISED_TABLE if s['dataset'] == 'mnist' else {}
    published_error = table.get(s['model'], {}).get(s['num_labels'])
    nn_error = table.get('nn', {}).get(s['num_labels'])
    lines.append(
        f"| {s['model']} | {s['num_labels']} | {s['objective']} | {s['k']} | "
        f"{len(s['seeds'])} | {_mean_sd(s['test_error'])} | {published_error} | "
        f"{_mean_sd(s['baseline_error'])} ({nn_error}) | {np.mean(s['test_ece']):.3f} | "
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


def main(argv):
  del argv
  config, workdir = _CONFIG.value, pathlib.Path(_WORKDIR.value)
  config.architecture = 'm1m2' if _MODEL.value == 'm1m2' else 'm2'
  if _MODEL.value != 'm2':
    config.m1_workdir = m1_workdir(config, workdir)
  seeds = None if _SEEDS.value is None else cli.distinct_integers(_SEEDS)
  rows = []
  for seed in seeds if seeds is not None else [config.seed]:
    seed_config = config.copy_and_resolve_references()
    seed_config.seed = seed
    run_dir = workdir if seeds is None else (
        workdir / f'{_MODEL.value}_n{config.num_labels}_seed{seed}')
    rows.append({'seed': seed, **train_one(seed_config, run_dir),
                 'baseline_error': baseline(seed_config, workdir)['test_error']})
    logging.info('seed %d: test error %.2f%% (supervised-only %.2f%%)', seed,
                 100 * rows[-1]['test_error'], 100 * rows[-1]['baseline_error'])
  m1 = _MODEL.value == 'm1'
  summary = {'model': _MODEL.value, 'dataset': config.dataset, 'num_labels': config.num_labels,
             'objective': '-' if m1 else config.objective, 'k': 0 if m1 else config.num_samples,
             'seeds': [r.pop('seed') for r in rows], **{k: [r[k] for r in rows] for k in rows[0]}}
  print(markdown_table([summary]), end='')
  if seeds is not None:
    record(workdir, summary)


if __name__ == '__main__':
  cli.run(main)
