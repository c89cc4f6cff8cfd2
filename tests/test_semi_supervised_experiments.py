"""experiments/semi_supervised.py and experiments/features.py end to end, on tiny settings."""

import json
import sys

import numpy as np
import pytest

import vaejax
from vaejax import runs
from vaejax.configs import m1 as m1_config
from vaejax.configs import semi_supervised
from vaejax.data import datasets
from test_experiments import ROOT, _run

sys.path.insert(0, str(ROOT / 'experiments'))
import semi_supervised_tables  # pylint: disable=g-import-not-at-top  (not installed)

TINY = ['--config.num_validation=500', '--config.hidden_units=32', '--config.latent_dim=4',
        '--config.num_epochs=1', '--config.eval_num_samples=2', '--config.labelled_batch_size=50']


def _data(small_mnist):
  return [f'--config.{k}={v}' for k, v in small_mnist.items()]


@pytest.mark.heavy
def test_m1_over_two_label_draws_writes_results(trained_run, small_mnist, tmp_path):
  m1, _ = trained_run
  stdout = _run('semi_supervised.py', f'--workdir={tmp_path}', '--model=m1', '--seeds=0,1',
                f'--config.m1_workdir={m1}', *_data(small_mnist), *TINY)
  assert '| m1 | 100 | - | 0 | 2 |' in stdout
  assert (tmp_path / 'results.md').read_text() in stdout
  [summary] = json.loads((tmp_path / 'results.json').read_text())
  assert summary['seeds'] == [0, 1] and len(summary['test_error']) == 2
  assert len(set(summary['settings'])) == 1  # two draws of one setting
  assert summary['machine'] == [runs.cpu()] * 2
  assert all(0 <= e < 0.9 for e in summary['test_error'] + summary['baseline_error'])
  assert (tmp_path / 'm1_n100_seed1' / 'probe.json').exists()


@pytest.mark.heavy
def test_m2_and_m1m2_single_runs(trained_run, small_mnist, tmp_path):
  """Each row shows its run's test error at the best validation error; the M1 + M2 run
  loads and classifies the test images with the error it recorded."""
  stdout = _run('semi_supervised.py', f'--workdir={tmp_path / "m2"}', '--model=m2',
                f'--config={ROOT}/vaejax/configs/semi_supervised_quick.py',
                *_data(small_mnist), *TINY, '--config.objective=iwae',
                '--config.num_samples=2')
  results = json.loads((tmp_path / 'm2' / 'results.json').read_text())
  assert results['step'] == 14
  error = 100 * results['test_error_at_best_validation']
  assert f'| m2 | 100 | iwae | 2 | 1 | {error:.2f} | {error:.2f} |' in stdout
  m1, _ = trained_run
  stdout = _run('semi_supervised.py', f'--workdir={tmp_path / "m1m2"}', '--model=m1m2',
                '--seeds=0', f'--config.m1_workdir={m1}', *_data(small_mnist), *TINY)
  for picture in ('error_vs_epoch_m1m2_n100.png', 'reliability_m1m2_n100.png'):
    assert (tmp_path / 'm1m2' / picture).stat().st_size > 1000
  run_dir = tmp_path / 'm1m2' / 'm1m2_n100_seed0'
  results = json.loads((run_dir / 'results.json').read_text())
  error = 100 * results['test_error_at_best_validation']
  assert f'| m1m2 | 100 | vae | 1 | 1 | {error:.2f} | {error:.2f} |' in stdout
  [curve] = json.loads((tmp_path / 'm1m2' / 'curves_m1m2_n100.json').read_text())
  assert (curve['seed'], curve['num_epochs'], curve['epoch'][-1]) == (0, 1, 1)
  assert curve['test_error'][-1] == results['test_error']
  assert curve['seconds'] == results['train_seconds']
  [summary] = json.loads((tmp_path / 'm1m2' / 'results.json').read_text())
  assert summary['machine'] == [runs.cpu()]  # The CPU in the run's run.json.
  run = vaejax.load(run_dir)
  test = datasets.load(small_mnist['dataset'], small_mnist['data_dir'])
  assert np.mean(run.classify(test.test_images / 255.0) != test.test_labels) == pytest.approx(
      results['test_error_at_best_validation'])


def test_bad_num_labels_is_one_line_error(small_mnist, tmp_path):
  err = _run('semi_supervised.py', f'--workdir={tmp_path}', '--config.num_labels=105',
             *_data(small_mnist), *TINY, returncode=1)
  assert err.strip().splitlines()[-1] == (
      'error: num_labels must be a multiple of the 10 classes (or 0 for all), got 105')


def test_features_probe_beside_pixels(trained_run):
  workdir, _ = trained_run
  stdout = _run('features.py', f'--workdir={workdir}', '--num_labels=50', '--num_validation=1000',
                '--classifiers=logistic')
  for name in ('latent means', 'encoder hidden layer', 'pixels'):
    assert f'| {name} | 50 |' in stdout
  [path] = workdir.glob('features_n50_seed0_step*_standardized_b0_logistic.json')
  rows = json.loads(path.read_text())
  assert 0 <= rows['latent means']['test_error'] < 0.9
  assert rows['encoder hidden layer']['units'] == vaejax.load(workdir).model.encoder_hidden[0][-1]
  assert 0 <= rows['encoder hidden layer']['test_error'] < 0.9


def test_m2_benchmark_times_the_step_beside_the_plain_step():
  """The released batching (the parts batching runs the same code; its loss is golden-tested)."""
  out = _run('benchmark_m2.py', '--seconds=0.1', '--steps_per_call=3', '--hidden_units=16',
             '--batch_size=10', '--labelled_batch_size=1', '--weighting=images',
             '--num_samples=3', folder='scripts')
  result = json.loads(out.strip().splitlines()[-1])
  assert (result['weighting'], result['num_samples']) == ('images', 3)
  assert result['examples_per_s'] > 0 and result['plain_examples_per_s'] > 0
  assert result['ratio'] == result['examples_per_s'] / result['plain_examples_per_s']


def _summary(model, num_labels, test_error, k=1, seeds=None, settings=None):
  n = len(test_error)
  summary = {'model': model, 'dataset': 'mnist', 'num_labels': num_labels, 'objective': 'vae',
             'k': k, 'seeds': seeds or list(range(n)), 'test_error': test_error,
             'baseline_error': [0.25] * n, 'test_ece': [0.05] * n, 'baseline_ece': [0.02] * n,
             'seconds': [120.0] * n}
  if settings is not None:
    summary['settings'] = [settings] * n
  return summary


def test_settings_hash_names_everything_but_the_seed():
  """Two draws of one setting share the hash wherever their M1 run lives; any other field, the
  M1 run's config or the M1 step tell them apart."""
  config = semi_supervised.get_config()
  m1 = m1_config.get_config()
  base = semi_supervised_tables.settings_hash(config, (m1, 1000))
  other_draw = config.copy_and_resolve_references()
  other_draw.seed, other_draw.m1_workdir = 3, '/elsewhere/m1'
  assert semi_supervised_tables.settings_hash(other_draw, (m1, 1000)) == base
  faster = config.copy_and_resolve_references()
  faster.learning_rate = 2e-3
  longer_m1 = m1_config.get_config()
  longer_m1.num_epochs = 2000
  others = {semi_supervised_tables.settings_hash(faster, (m1, 1000)),
            semi_supervised_tables.settings_hash(config, (m1, 900)),
            semi_supervised_tables.settings_hash(config, (longer_m1, 1000)),
            semi_supervised_tables.settings_hash(config)}
  assert len(others) == 4 and base not in others


def test_draws_of_one_setting_in_several_folders_make_one_row(tmp_path):
  """Draws 0-1 of one session and 2 of the next are one row of 3 draws (mean and sample sd of
  all three); another setting's draw 2 stays its own row; a draw found twice counts once,
  and a draw whose numbers differ under the same settings is a one-line error."""
  folders = {'a_session1': [_summary('m1m2', 100, [0.03, 0.02], seeds=[0, 1], settings='s')],
             'b_session2': [_summary('m1m2', 100, [0.04, 0.02], seeds=[2, 1], settings='s')],
             'c_other': [_summary('m1m2', 100, [0.05], seeds=[2], settings='t')]}
  for folder, summaries in folders.items():
    (tmp_path / folder).mkdir()
    (tmp_path / folder / 'results.json').write_text(json.dumps(summaries))
  results = ','.join(f'{tmp_path}/{f}/results.json' for f in folders)
  out = _run('semi_supervised_results.py', f'--results={results}',
             f'--out={tmp_path}/table1.md', folder='scripts')
  rows = [line for line in out.splitlines() if line.startswith('| a_') or line.startswith('| c_')]
  assert rows[0].startswith('| a_session1+b_session2 | m1m2 | 100 | vae | 1 | 3 | 3.00 ± 1.00 '
                            '| 4.00 |')
  assert rows[1].startswith('| c_other | m1m2 | 100 | vae | 1 | 1 | 5.00 | 5.00 |')
  assert len(rows) == 2
  # Draw 1 again with other numbers: counted once (the first) where it ran on another CPU
  # (or one not recorded), a one-line error where it ran on the same.
  folders['b_session2'][0]['test_error'][1] = 0.025
  for machines, error in (([None, 'X, avx2'], None), (['X, avx512f', 'X, avx2'], None),
                          (['X, avx2', 'X, avx2'], 'error: draw 1 of a_session1 and b_session2 '
                           'differs in test_error (0.02 against 0.025) under the same settings '
                           'on the same machine (X, avx2)')):
    folders['a_session1'][0]['machine'] = [None, machines[0]]
    folders['b_session2'][0]['machine'] = [None, machines[1]]
    for folder in ('a_session1', 'b_session2'):
      (tmp_path / folder / 'results.json').write_text(json.dumps(folders[folder]))
    out = _run('semi_supervised_results.py', f'--results={results}',
               f'--out={tmp_path}/table1.md', folder='scripts',
               returncode=0 if error is None else 1)
    if error is None:
      assert '| a_session1+b_session2 | m1m2 | 100 | vae | 1 | 3 | 3.00 ± 1.00 | 4.00 |' in out
    else:
      assert out.strip().splitlines()[-1] == error


def test_results_of_several_folders_make_one_table(tmp_path):
  """Rows of two results.json files in Table 1's order, each naming its folder, its mean and
  sample sd beside Kingma et al.'s number for its model and labels; a missing file is a
  one-line error."""
  for folder, summaries in {'b_m1m2': [_summary('m1m2', 600, [0.03]),
                                       _summary('m1m2', 100, [0.03, 0.04])],
                            'a_m2': [_summary('m2', 100, [0.10, 0.12])]}.items():
    (tmp_path / folder).mkdir()
    (tmp_path / folder / 'results.json').write_text(json.dumps(summaries))
  out_file = tmp_path / 'table1.md'
  out = _run('semi_supervised_results.py',
             f'--results={tmp_path}/b_m1m2/results.json,{tmp_path}/a_m2/results.json',
             f'--out={out_file}', folder='scripts')
  rows = [line for line in out.splitlines() if line.startswith('| a_') or line.startswith('| b_')]
  assert [r.split(' | ')[:3] for r in rows] == [['| a_m2', 'm2', '100'],
                                                ['| b_m1m2', 'm1m2', '100'],
                                                ['| b_m1m2', 'm1m2', '600']]
  assert '| 2 | 11.00 ± 1.41 | 12.00 | 11.97 |' in rows[0]
  assert '| 2 | 3.50 ± 0.71 | 4.00 | 3.33 |' in rows[1]
  assert '| 1 | 3.00 | 3.00 | 2.59 |' in rows[2]
  assert out_file.read_text() == out
  error = _run('semi_supervised_results.py', f'--results={tmp_path}/none.json',
               f'--out={out_file}', folder='scripts', returncode=1)
  assert error.strip().splitlines()[-1] == f'error: {tmp_path}/none.json is not a results.json file'


def _curve(seed, seconds, errors):
  """A curves file's draw evaluated every 5 epochs: errors is [(validation, test)] per
  evaluation."""
  return {'seed': seed, 'seconds': seconds, 'settings': 's', 'num_epochs': 5 * len(errors),
          'epoch': [5 * (i + 1) for i in range(len(errors))],
          'validation_error': [v for v, _ in errors], 'test_error': [t for _, t in errors]}


def test_budget_compares_at_the_same_updates_and_the_same_time(tmp_path):
  """The run (40 epochs at 10 s each) against a reference of 200 epochs at 3 s each: the
  reference's best validation error by epoch 40, then by epoch 133 (400 s), never its later
  minimum; draws in one file only are left out; the reference's draws read from two files; a
  reference too short, or a draw in two of its files, is a one-line error."""
  run = [_curve(seed, 400.0, [(0.3, 0.3)] * 7 + [(0.1, test)])
         for seed, test in ((0, 0.10), (1, 0.12), (2, 0.5))]
  reference = []
  for seed, at_35, at_130 in ((0, 0.13, 0.08), (1, 0.15, 0.07)):
    errors = [(0.4, 0.4)] * 40
    errors[6], errors[25], errors[37] = (0.2, at_35), (0.15, at_130), (0.01, 0.01)
    reference.append(_curve(seed, 600.0, errors))
  for name, curves in (('run', run), ('ref0', reference[:1]), ('ref1', reference[1:])):
    (tmp_path / f'{name}.json').write_text(json.dumps(curves))
  references = f'--reference=K=1={tmp_path}/ref0.json,{tmp_path}/ref1.json'
  out = _run('semi_supervised_budget.py', f'--run=IWAE K=5={tmp_path}/run.json', references,
             f'--out={tmp_path}/k.md', folder='scripts')
  assert out == (tmp_path / 'k.md').read_text()
  rows = out.splitlines()[2:]
  assert rows[0] == '| 0 | 40 | 10.00 | 13.00 | 133 | 8.00 |'
  assert rows[1] == '| 1 | 40 | 12.00 | 15.00 | 133 | 7.00 |'
  assert rows[2] == '| mean ± sd | | 11.00 ± 1.41 | 14.00 ± 1.41 | | 7.50 ± 0.71 |'
  assert rows[3] == '| IWAE K=5 minus K=1 | | | -3.00 ± 0.00 | | 3.50 ± 2.12 |'
  error = _run('semi_supervised_budget.py', f'--run=IWAE K=5={tmp_path}/run.json', references,
               f'--out={tmp_path}/k.md', '--seconds_ratio=6', folder='scripts', returncode=1)
  assert error.strip().splitlines()[-1] == (
      'error: draw 0: the reference trained 200 epochs, fewer than the 240 compared')
  error = _run('semi_supervised_budget.py', f'--run=IWAE K=5={tmp_path}/run.json',
               f'--reference=K=1={tmp_path}/ref0.json,{tmp_path}/ref0.json',
               f'--out={tmp_path}/k.md', folder='scripts', returncode=1)
  assert error.strip().splitlines()[-1] == "error: draw 0 of 'K=1' is in two curves files"


def test_features_table_orders_the_probes_by_step_with_their_lead_over_pixels(tmp_path):
  """Two hand-made probe files (the later step written first, the earlier without the hidden
  layer's row): rows by step, epochs from metrics.jsonl, leads as pixels minus input; a folder
  that is not a run is a one-line error."""
  records = [{'split': 'train', 'step': 100 * e, 'epoch': e, 'loss': 1.0} for e in (1, 2, 3)]
  (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
  probe = lambda error, units=None: {'classifier': 'logistic', 'test_error': error,
                                     **({'units': units} if units else {})}
  (tmp_path / 'features_n100_seed0_step300_released_b0_logistic.json').write_text(json.dumps(
      {'latent means': probe(0.26, 18), 'encoder hidden layer': probe(0.19, 500),
       'pixels': probe(0.245)}))
  (tmp_path / 'features_n100_seed0_step100_released_b8.json').write_text(json.dumps(
      {'latent means': probe(0.30, 50), 'pixels': probe(0.25)}))
  out = _run('features_table.py', f'--workdir={tmp_path}', f'--out={tmp_path}/t.md',
             folder='scripts')
  rows = out.splitlines()[2:]
  assert rows == [
      '| 1 | 100 | 0 | released | 8 | both | 30.00 (logistic, 50 units; -5.00) | - | '
      '25.00 (logistic) |',
      '| 3 | 100 | 0 | released | 0 | logistic | 26.00 (logistic, 18 units; -1.50) | '
      '19.00 (logistic, 500 units; 5.50) | 24.50 (logistic) |']
  assert [r['epoch'] for r in json.loads((tmp_path / 't.json').read_text())] == [1, 3]
  error = _run('features_table.py', f'--workdir={tmp_path}/none', f'--out={tmp_path}/t.md',
               folder='scripts', returncode=1)
  assert error.strip().splitlines()[-1] == (
      f'error: {tmp_path}/none is not a run directory (no metrics.jsonl)')
