"""Trains the grid {method} x {K} x {seed} with one schedule and compares what was learned.

  python experiments/compare_samples.py --workdir=runs/compare \
      --config=vaejax/configs/compare_quick.py --seeds=0,1,2

Methods: vae (ELBO_K), iwae (IWAE_K), dreg (IWAE_K with the DReG encoder gradient),
miwae / piwae (with --config.num_groups=M), ciwae (with --config.ciwae_beta), and IWAE_K with
the encoder estimators that need no reparameterization (vaejax/bounds/estimators.py): score, nvil,
vimco, rws_wake, rws_sleep, concrete, straight_through, on the Gaussian VAE or on a discrete
model (--config.architecture=sbn_linear, ...; vaejax/configs/compare_discrete_quick.py).
A cell where the method is not defined (vimco at K = 1) is left out, with a log line. Each cell and
seed is an ordinary run directory WORKDIR/<method>_k<K>_seed<S> (resumable; finished runs are
not retrained). The workdir receives results.md and results.json (per cell, the mean and
standard deviation over seeds of the test NLL, the bounds, KL, active units, gradient SNR and
train time, beside the published numbers; results.json also holds every run) and three
plots: nll_vs_k.png, snr_vs_k.png and bound_vs_k.png (means, with the standard deviation as
error bars).

With compare_quick.py (vae and iwae at K = 1, 5, 50; a short schedule) this takes about
10 minutes on 2 CPU cores and shows the paper's ordering: IWAE at K = 50 below IWAE at K = 5
below VAE at K = 1 in test NLL.
"""

import json
import pathlib
import statistics

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

import vaejax
import cli
import published
from vaejax.bounds import diagnostics
from vaejax.bounds import estimators
from vaejax.data import datasets
from vaejax.training import train
from vaejax.training import trainstate

METHODS = {  # method -> (objective, gradient estimator)
    'vae': ('vae', 'reparam'),
    'iwae': ('iwae', 'reparam'),
    'dreg': ('iwae', 'dreg'),
    'miwae': ('miwae', 'reparam'),
    'ciwae': ('ciwae', 'reparam'),
    'piwae': ('piwae', 'reparam'),
    **{name: ('iwae', name) for name in estimators.NAMES},
}

_CONFIG = config_flags.DEFINE_config_file(
    'config', cli.config_path('default.py'), 'Config shared by every cell.', lock_config=False)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the comparison.', required=True)
_METHODS = flags.DEFINE_list('methods', ['vae', 'iwae'], f'Any of {sorted(METHODS)}.')
_NUM_SAMPLES = flags.DEFINE_list('num_samples', ['1', '5', '50'], 'The K of each cell.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'The seeds of each cell (config.seed is replaced).')
_BOUND_KS = flags.DEFINE_list('bound_ks', ['1', '5', '50', '500', '5000'],
                              'Evaluation K for the bound-vs-K curves.')
_BOUND_EXAMPLES = flags.DEFINE_integer('bound_examples', 500,
                                       'Test images the bound-vs-K curves average over.')


SUMMARIZED = ('nll', 'elbo', 'iwae_k', 'kl', 'active_units', 'active_units_train500',
              'encoder_snr', 'decoder_snr', 'train_seconds')


def cell_config(base, method: str, k: int, seed: int):
  config = base.copy_and_resolve_references()
  config.objective, config.gradient_estimator = METHODS[method]
  config.num_samples = k
  config.seed = seed
  return config


def trained_method(method: str, k: int) -> str:
  """The method a cell trains: at K = 1 IWAE is the VAE (same math, same seed), trained once."""
  return 'vae' if k == 1 and method == 'iwae' else method


def train_cell(base, method: str, k: int, seed: int, workdir: pathlib.Path) -> dict:
  """Trains (or resumes, or just reads) one cell's run of one seed and measures its bound at
  several K."""
  trained = trained_method(method, k)
  config = cell_config(base, trained, k, seed)
  cell_dir = workdir / f'{trained}_k{k}_seed{seed}'
  logging.info('Cell %s, K = %d, seed %d: %s', method, k, seed, cell_dir)
  results = vaejax.train_and_evaluate(config, str(cell_dir))
  bounds_file = cell_dir / 'bound_vs_k.json'
  if not bounds_file.exists():
    run = vaejax.load(cell_dir)
    images = datasets.load(config.dataset, config.data_dir or None).test_images
    prepare_key, bound_key = jax.random.split(trainstate.run_keys(config.seed).analysis)
    x = run.model.likelihood.prepare(prepare_key,
                                     jnp.asarray(images[:_BOUND_EXAMPLES.value]))
    bounds = diagnostics.bound_vs_k(run.model, run.params, x, bound_key,
                                    [int(b) for b in _BOUND_KS.value])
    bounds_file.write_text(json.dumps({str(b): v for b, v in bounds.items()}))
  results['bound_vs_k'] = json.loads(bounds_file.read_text())
  published_nll = published.published_nll(config.architecture, method, k)
  return {'method': method, 'k': k, 'seed': seed, 'published_nll': published_nll,
          'published_active_units': published.published_active_units(
              config.architecture, method, k), **results}


def _mean_std(values: list[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (0 for one value)."""
  return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict]) -> list[dict]:
  """Per (method, K): the mean and standard deviation over seeds of every metric, and of the
  bound at every evaluation k."""
  summary = []
  for method, k in dict.fromkeys((r['method'], r['k']) for r in runs):
    members = [r for r in runs if (r['method'], r['k']) == (method, k)]
    entry = {'method': method, 'k': k, 'seeds': [r['seed'] for r in members],
             'published_nll': members[0]['published_nll'],
             'published_active_units': members[0]['published_active_units']}
    for name in SUMMARIZED:
      if all(name in r for r in members):
        entry[name], entry[f'{name}_std'] = _mean_std([r[name] for r in members])
    entry['bound_vs_k'] = {b: _mean_std([r['bound_vs_k'][b] for r in members])
                           for b in members[0]['bound_vs_k']}
    summary.append(entry)
  return summary


def markdown_table(summary: list[dict], eval_num_samples: int) -> str:
  lines = [
      f'| method | K | seeds | test NLL (k={eval_num_samples}) | published | -ELBO | -IWAE_K | '
      'KL | active units (published) | active units, 500 train images | encoder SNR | '
      'decoder SNR | train s |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  fmt = lambda v, spec: '-' if v is None else format(v, spec)

  def cell(r, name, spec, sign=1):
    if name not in r:
      return '-'
    value = format(sign * r[name], spec)
    return value if len(r['seeds']) == 1 else f"{value} ± {format(r[name + '_std'], spec)}"

  for r in summary:
    lines.append(
        f"| {r['method']} | {r['k']} | {len(r['seeds'])} | {cell(r, 'nll', '.2f')} | "
        f"{fmt(r['published_nll'], '.2f')} | {cell(r, 'elbo', '.2f', -1)} | "
        f"{cell(r, 'iwae_k', '.2f', -1)} | {cell(r, 'kl', '.2f')} | "
        f"{cell(r, 'active_units', '.1f')} ({r['published_active_units'] or '-'}) | "
        f"{cell(r, 'active_units_train500', '.1f')} | {cell(r, 'encoder_snr', '.3f')} | "
        f"{cell(r, 'decoder_snr', '.3f')} | {cell(r, 'train_seconds', '.0f')} |")
  return '\n'.join(lines) + '\n'


def plot(rows: list[dict], workdir: pathlib.Path) -> None:
  """nll_vs_k.png, snr_vs_k.png and bound_vs_k.png of the summary's rows: means over seeds,
  the standard deviation as error bars."""
  methods = list(dict.fromkeys(r['method'] for r in rows))
  fig, ax = plt.subplots(figsize=(5, 4))
  for m in methods:
    cells = [r for r in rows if r['method'] == m]
    line = ax.errorbar([r['k'] for r in cells], [r['nll'] for r in cells],
                       yerr=[r['nll_std'] for r in cells], fmt='o-', capsize=3, label=m).lines[0]
    pub = [(r['k'], r['published_nll']) for r in cells if r['published_nll'] is not None]
    if pub:
      ax.plot(*zip(*pub), 'x:', color=line.get_color(), label=f'{m} (published)')
  ax.set(xscale='log', xlabel='K (training samples)', ylabel='test NLL (nats)')
  ax.legend()
  fig.tight_layout()
  fig.savefig(workdir / 'nll_vs_k.png', dpi=120)

  fig, ax = plt.subplots(figsize=(5, 4))
  for m in methods:
    cells = [r for r in rows if r['method'] == m and 'encoder_snr' in r]
    if cells:
      line = ax.errorbar([r['k'] for r in cells], [r['encoder_snr'] for r in cells],
                         yerr=[r['encoder_snr_std'] for r in cells], fmt='o-', capsize=3,
                         label=f'{m} encoder').lines[0]
      ax.errorbar([r['k'] for r in cells], [r['decoder_snr'] for r in cells],
                  yerr=[r['decoder_snr_std'] for r in cells], fmt='s--', capsize=3,
                  color=line.get_color(), label=f'{m} decoder')
  ax.set(xscale='log', yscale='log', xlabel='K (training samples)',
         ylabel='mean gradient SNR |E g| / std g')
  ax.legend()
  fig.tight_layout()
  fig.savefig(workdir / 'snr_vs_k.png', dpi=120)

  fig, ax = plt.subplots(figsize=(5, 4))
  for r in rows:
    ks = sorted(int(k) for k in r['bound_vs_k'])
    ax.errorbar(ks, [-r['bound_vs_k'][str(k)][0] for k in ks],
                yerr=[r['bound_vs_k'][str(k)][1] for k in ks], fmt='o-', capsize=3,
                label=f"{r['method']} K={r['k']}")
  ax.set(xscale='log', xlabel='evaluation k', ylabel='-IWAE_k on test images (nats)')
  ax.legend(fontsize='small')
  fig.tight_layout()
  fig.savefig(workdir / 'bound_vs_k.png', dpi=120)
  plt.close('all')


def main(argv):
  del argv
  unknown = sorted(set(_METHODS.value) - set(METHODS))
  if unknown:
    raise vaejax.UserError(f'unknown methods {unknown}; choose from {sorted(METHODS)}')
  ks, seeds = cli.distinct_integers(_NUM_SAMPLES), cli.distinct_integers(_SEEDS)
  workdir = pathlib.Path(_WORKDIR.value)
  base = _CONFIG.value
  cells = []
  for method in _METHODS.value:  # Check every cell's config before training any.
    for k in ks:
      if method == 'vimco' and k == 1:
        logging.info('vimco is not defined at K = 1 (its baselines leave a sample out): '
                     'that cell is left out.')
        continue
      train.validate_config(cell_config(base, method, k, seeds[0]))
      cells.append((method, k))
  runs = [train_cell(base, method, k, seed, workdir) for method, k in cells for seed in seeds]
  summary = summarize(runs)
  table = markdown_table(summary, base.eval_num_samples)
  (workdir / 'results.md').write_text(table)
  (workdir / 'results.json').write_text(
      json.dumps({'summary': summary, 'runs': runs}, indent=2) + '\n')
  plot(summary, workdir)
  print(table)


if __name__ == '__main__':
  cli.run(main)
