"""The experiment scripts end to end, on tiny settings."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import vaejax
from vaejax import runs
from vaejax.configs import from_run
from tests.conftest import tiny_config

ROOT = pathlib.Path(__file__).parent.parent
TINY = ['--config.num_epochs=1', '--config.batch_size=600', '--config.eval_num_samples=8',
        '--config.eval_chunk_size=8', '--config.eval_batch_size=500', '--config.snr_num_draws=4']


def _run(script, *args, folder='experiments', returncode=0):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  result = subprocess.run([sys.executable, str(ROOT / folder / script), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
  assert result.returncode == returncode, result.stderr[-3000:]
  return result.stdout if returncode in (0, 2) else result.stderr


def test_benchmark_prints_speeds_baseline_and_breakdown():
  out = _run('benchmark.py', '--seconds=0.1', '--steps_per_call=10', '--num_samples=2',
             '--baseline', '--breakdown', folder='scripts')
  result = json.loads(out.strip().splitlines()[-1])
  assert result['num_samples'] == 2
  assert result['examples_per_s'] > 0 and result['baseline_examples_per_s'] > 0
  assert result['speedup'] == result['examples_per_s'] / result['baseline_examples_per_s']
  assert set(result['breakdown_examples_per_s']) == {
      'sgd_instead_of_adam', 'no_binarization_draw', 'sgd_and_no_binarization_draw'}
  assert all(v > 0 for v in result['breakdown_examples_per_s'].values())


def test_benchmark_bad_flag_is_one_line_error():
  err = _run('benchmark.py', '--num_samples=0', folder='scripts', returncode=1)
  assert err.strip() == 'error: num_samples (K) must be at least 1, got 0'


@pytest.mark.heavy
def test_compare_samples_writes_table_and_plots_and_skips_finished_cells(small_mnist, tmp_path):
  args = [f'--workdir={tmp_path}', f'--config={ROOT}/vaejax/configs/compare_quick.py', *TINY,
          *[f'--config.{k}={v}' for k, v in small_mnist.items()],
          '--methods=vae,iwae', '--num_samples=1,2', '--seeds=0,1', '--bound_ks=1,4',
          '--bound_examples=20']
  stdout = _run('compare_samples.py', *args)
  assert '| method | K | seeds |' in stdout
  results = json.loads((tmp_path / 'results.json').read_text())
  rows, runs = results['summary'], results['runs']
  assert [(r['method'], r['k'], r['seeds']) for r in rows] == [
      ('vae', 1, [0, 1]), ('vae', 2, [0, 1]), ('iwae', 1, [0, 1]), ('iwae', 2, [0, 1])]
  assert rows[0]['nll'] == rows[2]['nll']  # IWAE_1 is the ELBO: one cell serves both.
  assert rows[0]['published_nll'] == 86.76
  for row in rows:
    nlls = [r['nll'] for r in runs if (r['method'], r['k']) == (row['method'], row['k'])]
    assert nlls[0] != nlls[1]  # Two seeds, two runs.
    assert row['nll'] == pytest.approx(np.mean(nlls))
    assert row['nll_std'] == pytest.approx(np.std(nlls, ddof=1))
  assert all(r['bound_vs_k']['4'] > r['bound_vs_k']['1'] for r in runs)
  for plot in ('nll_vs_k.png', 'snr_vs_k.png', 'bound_vs_k.png'):
    assert (tmp_path / plot).read_bytes()[:4] == b'\x89PNG'
  metrics = tmp_path / 'vae_k2_seed1' / 'metrics.jsonl'
  before = metrics.stat().st_mtime_ns
  _run('compare_samples.py', *args)
  assert metrics.stat().st_mtime_ns == before  # Finished cells are read, not retrained.


def test_diagnose_prints_snr_and_bounds(trained_run):
  workdir, _ = trained_run
  out = _run('diagnose.py', f'--workdir={workdir}', '--num_samples=1,3', '--num_draws=4',
             '--bound_ks=1,10', '--num_examples=20')
  lines = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
  assert len([l for l in lines if 'encoder_snr' in l]) == 4
  bounds = [l['iwae_bound'] for l in lines if 'iwae_bound' in l]
  assert len(bounds) == 2 and bounds[1] > bounds[0]


def test_learning_curves_tabulate_and_plot_runs_beside_references(trained_run, tmp_path):
  workdir, results = trained_run
  out = _run('learning_curves.py', f'--runs=a={workdir},b={workdir}', f'--out={tmp_path}',
             '--reference=paper, K=5=93.6', folder='scripts')
  assert out.splitlines()[0] == '| epoch | a test NLL | b test NLL |'
  assert out.splitlines()[2] == f"| 1 | {results['nll']:.2f} | {results['nll']:.2f} |"
  assert (tmp_path / 'learning_curves.md').read_text() == out
  assert (tmp_path / 'learning_curves.png').read_bytes()[:4] == b'\x89PNG'
  err = _run('learning_curves.py', '--runs=nolabel', f'--out={tmp_path}', folder='scripts',
             returncode=1)
  assert err.strip() == "error: --runs takes label=value, got 'nolabel'"


def test_visualize_adds_interpolations(trained_run, tmp_path):
  workdir, results = trained_run
  copy = tmp_path / 'run'
  shutil.copytree(workdir, copy)
  assert 'wrote 4 pictures' in _run('visualize.py', f'--workdir={copy}')
  assert (copy / 'pictures' / f"interpolations_{results['step']}.png").read_bytes()[:4] == (
      b'\x89PNG')


@pytest.mark.heavy
def test_sweep_latent_writes_runs_table_and_plot(small_mnist, tmp_path):
  args = [f'--workdir={tmp_path}', f'--config={ROOT}/vaejax/configs/tiny.py',
          *[f'--config.{k}={v}' for k, v in small_mnist.items()],
          '--latent_dims=2,3', '--seeds=0,1', '--strategy=vmap', '--config.snr_num_draws=0']
  stdout = _run('sweep_latent.py', *args)
  assert '| latent units | seeds |' in stdout
  summary = json.loads((tmp_path / 'results.json').read_text())['summary']
  assert [(s['latent_dim'], s['seeds']) for s in summary] == [(2, [0, 1]), (3, [0, 1])]
  assert all(s['nll_std'] > 0 and s['active_units'] <= s['latent_dim'] for s in summary)
  assert (tmp_path / 'latent_sweep.png').read_bytes()[:4] == b'\x89PNG'
  run = vaejax.load(tmp_path / 'latent3_seed1')
  assert run.model.latent_dim == 3 and run.config.seed == 1


def test_anomaly_scores_the_held_out_class(small_mnist, tmp_path):
  stdout = _run('anomaly.py', f'--workdir={tmp_path}', *TINY, '--num_samples=8',
                *[f'--config.{k}={v}' for k, v in small_mnist.items()],
                '--config.held_out_label=0')
  results = json.loads(stdout.strip().splitlines()[-1])
  assert results == json.loads((tmp_path / 'anomaly.json').read_text())
  assert results['num_anomalies'] > 0 and results['num_normal'] > results['num_anomalies']
  for name in ('-log p(x) (k=8)', '-ELBO'):
    assert 0.0 <= results[name]['auroc'] <= 1.0 and 0.0 < results[name]['auprc'] <= 1.0
  assert (tmp_path / 'anomaly_scores.png').read_bytes()[:4] == b'\x89PNG'
  config = json.loads((tmp_path / 'config.json').read_text())
  assert config['held_out_label'] == 0


def test_reproduce_retrains_a_run_from_its_directory(small_mnist, tmp_path):
  old, new = tmp_path / 'old', tmp_path / 'new'
  config = tiny_config(**small_mnist, num_epochs=2, snr_num_draws=0)  # 10 steps an epoch.
  vaejax.train_and_evaluate(config, str(old))
  assert from_run.get_config(str(old)) == runs.read_config(old)
  out = _run('reproduce.py', f'--run={old}', f'--workdir={new}', '--epochs=1')
  assert out.splitlines()[:3] == ['REPRODUCED', 'metrics.jsonl: the 1 records match bit for bit',
                                  'parameters at step 10: match bit for bit']
  assert not (new / runs.RESULTS_FILE).exists()
  records = (old / runs.METRICS_FILE).read_text().splitlines()
  first = json.loads(records[0])
  (old / runs.METRICS_FILE).write_text(
      '\n'.join([json.dumps({**first, 'loss': first['loss'] + 1}), *records[1:]]) + '\n')
  out = _run('reproduce.py', f'--run={old}', f'--workdir={new}', '--epochs=1', returncode=2)
  assert 'metrics.jsonl: record 1 differs' in out
