"""Trains the grid {method} x {K} with one seed and schedule and compares what was learned.

  python experiments/compare_samples.py --workdir=runs/compare \
      --config=vaejax/configs/compare_quick.py

Methods: vae (ELBO_K), iwae (IWAE_K), dreg (IWAE_K with the DReG encoder gradient),
miwae / piwae (with --config.num_groups=M), ciwae (with --config.ciwae_beta). Each cell is
an ordinary run directory WORKDIR/<method>_k<K> (resumable; finished cells are not
retrained). The workdir receives results.md and results.json (test NLL, the bounds, KL,
active units, gradient SNR and train time, beside the published numbers) and three plots:
nll_vs_k.png, snr_vs_k.png and bound_vs_k.png.

With compare_quick.py (vae and iwae at K = 1, 5, 50; a short schedule) this takes about
10 minutes on 2 CPU cores and shows the paper's ordering: IWAE at K = 50 below IWAE at K = 5
below VAE at K = 1 in test NLL.
"""

import json
import pathlib

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
from vaejax import data
from vaejax import diagnostics

METHODS = {  # method -> (objective, gradient estimator)
    'vae': ('vae', 'reparam'),
    'iwae': ('iwae', 'reparam'),
    'dreg': ('iwae', 'dreg'),
    'miwae': ('miwae', 'reparam'),
    'ciwae': ('ciwae', 'reparam'),
    'piwae': ('piwae', 'reparam'),
}

_CONFIG = config_flags.DEFINE_config_file(
    'config', cli.config_path('default.py'), 'Config shared by every cell.', lock_config=False)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the comparison.', required=True)
_METHODS = flags.DEFINE_list('methods', ['vae', 'iwae'], f'Any of {sorted(METHODS)}.')
_NUM_SAMPLES = flags.DEFINE_list('num_samples', ['1', '5', '50'], 'The K of each cell.')
_BOUND_KS = flags.DEFINE_list('bound_ks', ['1', '5', '50', '500', '5000'],
                              'Evaluation K for the bound-vs-K curves.')
_BOUND_EXAMPLES = flags.DEFINE_integer('bound_examples', 500,
                                       'Test images the bound-vs-K curves average over.')


def cell_config(base, method: str, k: int):
  config = base.copy_and_resolve_references()
  config.objective, config.gradient_estimator = METHODS[method]
  config.num_samples = k
  return config


def trained_method(method: str, k: int) -> str:
  """The method a cell trains: at K = 1 IWAE is the VAE (same math, same seed), trained once."""
  return 'vae' if k == 1 and method == 'iwae' else method


def train_cell(base, method: str, k: int, workdir: pathlib.Path) -> dict:
  """Trains (or resumes, or just reads) one cell and measures its bound at several K."""
  trained = trained_method(method, k)
  config = cell_config(base, trained, k)
  cell_dir = workdir / f'{trained}_k{k}'
  logging.info('Cell %s, K = %d: %s', method, k, cell_dir)
  results = vaejax.train_and_evaluate(config, str(cell_dir))
  bounds_file = cell_dir / 'bound_vs_k.json'
  if not bounds_file.exists():
    run = vaejax.load(cell_dir)
    images = data.load(config.dataset, config.data_dir or None).test_images
    prepare_key, bound_key = jax.random.split(vaejax.train.run_keys(config.seed).analysis)
    x = run.model.likelihood.prepare(prepare_key,
                                     jnp.asarray(images[:_BOUND_EXAMPLES.value]))
    bounds = diagnostics.bound_vs_k(run.model, run.params, x, bound_key,
                                    [int(b) for b in _BOUND_KS.value])
    bounds_file.write_text(json.dumps({str(b): v for b, v in bounds.items()}))
  results['bound_vs_k'] = json.loads(bounds_file.read_text())
  published_nll = published.published_nll(config.architecture, method, k)
  return {'method': method, 'k': k, 'published_nll': published_nll,
          'published_active_units': published.published_active_units(
              config.architecture, method, k), **results}


def markdown_table(rows: list[dict], eval_num_samples: int) -> str:
  lines = [
      f'| method | K | test NLL (k={eval_num_samples}) | published | -ELBO | -IWAE_K | KL | '
      'active units (published) | encoder SNR | decoder SNR | train s |',
      '|---|---|---|---|---|---|---|---|---|---|---|']
  fmt = lambda v, spec: '-' if v is None else format(v, spec)
  for r in rows:
    lines.append(
        f"| {r['method']} | {r['k']} | {r['nll']:.2f} | {fmt(r['published_nll'], '.2f')} | "
        f"{-r['elbo']:.2f} | {-r['iwae_k']:.2f} | {r['kl']:.2f} | "
        f"{r['active_units']} ({r['published_active_units'] or '-'}) | "
        f"{fmt(r.get('encoder_snr'), '.3f')} | {fmt(r.get('decoder_snr'), '.3f')} | "
        f"{fmt(r.get('train_seconds'), '.0f')} |")
  return '\n'.join(lines) + '\n'


def plot(rows: list[dict], workdir: pathlib.Path) -> None:
  """nll_vs_k.png, snr_vs_k.png and bound_vs_k.png."""
  methods = list(dict.fromkeys(r['method'] for r in rows))
  fig, ax = plt.subplots(figsize=(5, 4))
  for m in methods:
    cells = [r for r in rows if r['method'] == m]
    line, = ax.plot([r['k'] for r in cells], [r['nll'] for r in cells], 'o-', label=m)
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
      line, = ax.plot([r['k'] for r in cells], [r['encoder_snr'] for r in cells], 'o-',
                      label=f'{m} encoder')
      ax.plot([r['k'] for r in cells], [r['decoder_snr'] for r in cells], 's--',
              color=line.get_color(), label=f'{m} decoder')
  ax.set(xscale='log', yscale='log', xlabel='K (training samples)',
         ylabel='mean gradient SNR |E g| / std g')
  ax.legend()
  fig.tight_layout()
  fig.savefig(workdir / 'snr_vs_k.png', dpi=120)

  fig, ax = plt.subplots(figsize=(5, 4))
  for r in rows:
    ks = sorted(int(k) for k in r['bound_vs_k'])
    ax.plot(ks, [-r['bound_vs_k'][str(k)] for k in ks], 'o-', label=f"{r['method']} K={r['k']}")
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
  try:
    ks = [int(k) for k in _NUM_SAMPLES.value]
  except ValueError:
    raise vaejax.UserError(f'--num_samples must be integers, got {_NUM_SAMPLES.value}') from None
  workdir = pathlib.Path(_WORKDIR.value)
  base = _CONFIG.value
  for method in _METHODS.value:  # Check every cell's config before training any.
    for k in ks:
      vaejax.train.validate_config(cell_config(base, method, k))
  rows = [train_cell(base, method, k, workdir) for method in _METHODS.value for k in ks]
  table = markdown_table(rows, base.eval_num_samples)
  (workdir / 'results.md').write_text(table)
  (workdir / 'results.json').write_text(json.dumps(rows, indent=2) + '\n')
  plot(rows, workdir)
  print(table)


if __name__ == '__main__':
  cli.run(main)
