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
10 minutes of training a seed on 2 CPU cores, a test error near 10% (10.17 +- 0.59 over seeds
0, 1, 2) against the supervised-only baseline's 24%; with semi_supervised_m1m2_fast.py (M1 +
M2 on runs/m1) about 3% (2.83 on seed 0; README).
"""

import json
import pathlib
import time

from absl import flags
from absl import logging
from matplotlib import figure
import numpy as np
from ml_collections import config_flags

import vaejax
import cli
import semi_supervised_tables
from vaejax import runs
from vaejax.data import datasets
from vaejax.semisupervised import classifiers
from vaejax.semisupervised import features
from vaejax.semisupervised import splits
from vaejax.training import train_m2
from vaejax.training import trainstate

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


def _cached(path: pathlib.Path, key: dict, compute) -> dict:
  """compute()'s dict, stored at path the first time with `key` (what changes it) and read
  back afterwards while the key is the same."""
  if path.exists():
    stored = json.loads(path.read_text())
    if stored.get('key') == key:
      return stored['result']
  result = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps({'key': key, 'result': result}, indent=2) + '\n')
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


def labelled_split(config) -> tuple[datasets.Dataset, splits.Splits]:
  """The config's dataset and its splits for the config's seed and num_labels."""
  dataset = datasets.load(config.dataset, config.data_dir or None)
  return dataset, splits.make_splits(dataset.train_labels, config.num_labels,
                                     config.num_validation, config.seed)


def _split_key(config) -> dict:
  return {k: config[k] for k in ('dataset', 'num_labels', 'num_validation', 'seed')}


def m1_probe(config, run_dir: pathlib.Path) -> dict:
  """M1: a classifier on the M1 run's latent means of the labelled images (the feature map
  of config.m1_scaling and m1_binarizations, at the M1 run's newest checkpoint)."""
  m1 = vaejax.load(config.m1_workdir)
  key = {**_split_key(config), 'm1_workdir': str(pathlib.Path(config.m1_workdir).resolve()),
         'm1_step': m1.step, **{k: config[k] for k in ('m1_layers', 'm1_scaling',
                                                       'm1_binarizations')}}

  def compute():
    start = time.monotonic()
    dataset, s = labelled_split(config)
    analysis_key = trainstate.run_keys(config.seed).analysis
    feature_map = features.make_feature_map(
        m1.model, m1.params, dataset.train_images / 255.0, s.unlabelled, analysis_key,
        config.m1_layers, config.m1_binarizations, config.m1_scaling)
    result = features.probe(feature_map, dataset, s, analysis_key)
    return {**result, 'seconds': time.monotonic() - start, 'machine': runs.cpu()}
  return _cached(run_dir / PROBE_FILE, key, compute)


def baseline(config, workdir: pathlib.Path) -> dict:
  """M2's classifier network trained on the labelled images alone (cached per dataset, N,
  validation size, hidden units and seed)."""
  def compute():
    dataset, s = labelled_split(config)
    return classifiers.probe(dataset.train_images / 255.0, dataset.train_labels,
                             dataset.test_images / 255.0, dataset.test_labels, s,
                             trainstate.run_keys(config.seed).analysis,
                             hiddens=((config.hidden_units,),))
  key = {**_split_key(config), 'hidden_units': config.hidden_units}
  return _cached(workdir / f'baseline_n{config.num_labels}_seed{config.seed}.json', key,
                 compute)


def train_one(config, run_dir: pathlib.Path) -> dict:
  """One label draw: {'test_error', 'validation_error', 'test_ece', 'seconds', ...}."""
  if _MODEL.value == 'm1':
    return m1_probe(config, run_dir)
  results = train_m2.train_and_evaluate(config, str(run_dir))
  return {'test_error': results['test_error_at_best_validation'],
          'last_test_error': results['test_error'],
          'validation_error': results['best_validation_error'],
          'test_ece': results['test_ece_at_best_validation'], 'nll': results['nll'],
          'seconds': results['train_seconds'],
          'machine': runs.read_run_info(run_dir).get('environment', {}).get('cpu')}


def draw_settings(config, run_dir: pathlib.Path) -> str:
  """The settings_hash of a finished draw: with the M1 run's config and the M1 step its
  features are from (M1 + M2: saved in the run directory; M1: the probe's)."""
  if _MODEL.value == 'm2':
    return semi_supervised_tables.settings_hash(config)
  if _MODEL.value == 'm1m2':
    return semi_supervised_tables.settings_hash(config, train_m2.read_m1_origin(str(run_dir)))
  m1_step = json.loads((run_dir / PROBE_FILE).read_text())['key']['m1_step']
  return semi_supervised_tables.settings_hash(config,
                                              (runs.read_config(config.m1_workdir), m1_step))


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
    supervised_only = baseline(seed_config, workdir)
    rows.append({'seed': seed, **train_one(seed_config, run_dir),
                 'baseline_error': supervised_only['test_error'],
                 'baseline_ece': supervised_only['test_ece'],
                 'settings': draw_settings(seed_config, run_dir)})
    logging.info('seed %d: test error %.2f%% (supervised-only %.2f%%)', seed,
                 100 * rows[-1]['test_error'], 100 * rows[-1]['baseline_error'])
  m1 = _MODEL.value == 'm1'
  summary = {'model': _MODEL.value, 'dataset': config.dataset, 'num_labels': config.num_labels,
             'objective': '-' if m1 else config.objective, 'k': 0 if m1 else config.num_samples,
             'seeds': [r.pop('seed') for r in rows],
             **{k: [r.get(k) for r in rows] for k in rows[0]}}
  print(semi_supervised_tables.markdown_table([summary]), end='')
  if seeds is not None:
    semi_supervised_tables.record(workdir, summary)
    if not m1:
      run_dirs = [workdir / f'{_MODEL.value}_n{config.num_labels}_seed{s}' for s in seeds]
      plot_runs(workdir, f'{_MODEL.value}_n{config.num_labels}', run_dirs, summary)


def draw_curve(run_dir: pathlib.Path) -> dict:
  """A draw's evaluations from its metrics.jsonl: {'epoch', 'validation_error', 'test_error'},
  a list each, and 'num_epochs' (the epochs trained)."""
  records = runs.MetricsLog(run_dir).records()
  train = [r for r in records if r['split'] == 'train']
  steps_per_epoch = train[0]['step'] // train[0]['epoch']
  evaluations = [r for r in records if 'validation_error' in r]
  return {'num_epochs': train[-1]['epoch'],
          'epoch': [r['step'] // steps_per_epoch for r in evaluations],
          **{k: [r[k] for r in evaluations] for k in ('validation_error', 'test_error')}}


def plot_runs(workdir: pathlib.Path, name: str, run_dirs: list[pathlib.Path],
              summary: dict) -> None:
  """WORKDIR/curves_<name>.json (every draw's validation and test error at each evaluation,
  and its training seconds), error_vs_epoch_<name>.png (the same curves) and
  reliability_<name>.png (the reliability diagram of the best draw's q(y | x) on the test
  set, the parameters of its least validation error)."""
  curves = [{'seed': seed, 'seconds': seconds, 'settings': settings, **draw_curve(run_dir)}
            for seed, seconds, settings, run_dir in zip(
                summary['seeds'], summary['seconds'], summary['settings'], run_dirs)]
  (workdir / f'curves_{name}.json').write_text(json.dumps(curves, indent=1) + '\n')
  fig = figure.Figure(figsize=(6, 4))
  ax = fig.subplots()
  for curve in curves:
    line, = ax.plot(curve['epoch'], [100 * e for e in curve['test_error']],
                    label=f'draw {curve["seed"]}, test')
    ax.plot(curve['epoch'], [100 * e for e in curve['validation_error']], '--',
            color=line.get_color(), label=f'draw {curve["seed"]}, validation')
  ax.set(xlabel='epoch', ylabel='error %', title=name)
  ax.legend(fontsize=6)
  fig.savefig(workdir / f'error_vs_epoch_{name}.png', dpi=120)
  best = run_dirs[int(np.argmin(summary['test_error']))]
  run = vaejax.load(best)
  dataset = datasets.load(run.config.dataset, run.config.data_dir or None)
  probs = run.class_probs(dataset.test_images / 255.0)
  confidence, accuracy, share = classifiers.reliability(probs, dataset.test_labels)
  fig = figure.Figure(figsize=(4, 4))
  ax = fig.subplots()
  centres = (np.arange(classifiers.ECE_BINS) + 0.5) / classifiers.ECE_BINS
  ax.bar(centres, np.nan_to_num(accuracy), width=1 / classifiers.ECE_BINS, edgecolor='k',
         label='accuracy')
  ax.plot([0, 1], [0, 1], 'k--', label='calibrated')
  ece = classifiers.expected_calibration_error(probs, dataset.test_labels)
  ax.set(xlabel='confidence', ylabel='accuracy', xlim=(0, 1), ylim=(0, 1),
         title=f'{best.name}: ECE {ece:.3f}')
  ax.legend(fontsize=7)
  fig.savefig(workdir / f'reliability_{name}.png', dpi=120)


if __name__ == '__main__':
  cli.run(main)
