"""Every user mistake gives a one-line error and a non-zero exit, never lost work."""

import os
import pathlib
import subprocess
import sys

import pytest

import vaejax
from vaejax import runs
from vaejax.errors import UserError
from vaejax.training import train
from tests.conftest import tiny_config

ROOT = pathlib.Path(__file__).parent.parent


@pytest.mark.parametrize('overrides, message', [
    ({'dataset': 'cifar11'}, "unknown dataset 'cifar11'"),
    ({'objective': 'elbow'}, "unknown objective 'elbow'"),
    ({'architecture': 'three_layer'}, "unknown architecture 'three_layer'"),
    ({'likelihood': 'poisson'}, "unknown likelihood 'poisson'"),
    ({'likelihood': 'gaussian', 'binarization': 'fixed'},
     "binarization 'fixed' is for the Bernoulli likelihood only"),
    ({'gradient_estimator': 'reinforce'}, "unknown gradient estimator 'reinforce'"),
    ({'num_samples': 0}, 'num_samples (K) must be at least 1'),
    ({'latent_dim': 0}, 'latent_dim must be at least 1'),
    ({'batch_size': 60001}, 'batch_size 60001 is larger than the 60000 training examples'),
    ({'schedule': 'linear'}, "unknown schedule 'linear'"),
    ({'optimizer': 'sgd'}, "unknown optimizer 'sgd'"),
    ({'gradient_reduction': 'max'}, "unknown gradient_reduction 'max'"),
    ({'train_examples': -1}, 'train_examples must be 0 (all) or positive'),
    ({'binarization': 'stochastic'}, "unknown binarization 'stochastic'"),
    ({'learning_rate': 0.0}, 'learning_rate must be positive'),
    ({'held_out_label': 10}, 'held_out_label 10 is not a label of mnist'),
    ({'dataset': 'tfds:nonexistent_dataset'}, "unknown TFDS dataset 'nonexistent_dataset'"),
])
def test_bad_config_is_a_user_error(tmp_path, overrides, message):
  with pytest.raises(UserError) as error:
    train.train_and_evaluate(tiny_config(**overrides), str(tmp_path / 'run'))
  assert message in str(error.value)
  assert '\n' not in str(error.value)
  assert not (tmp_path / 'run').exists()  # Nothing written for a config that cannot run.


def test_unprepared_tfds_dataset_fails_fast_with_instructions(tmp_path):
  with pytest.raises(UserError, match=r'not prepared in .* `tfds build kmnist'):
    train.train_and_evaluate(tiny_config(dataset='tfds:kmnist', data_dir=str(tmp_path)),
                             str(tmp_path / 'run'))


def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  with pytest.raises(UserError, match='is not writable'):
    train.train_and_evaluate(tiny_config(), str(blocker / 'run'))


def test_unfinished_checkpoint_is_ignored(small_mnist, tmp_path):
  config = tiny_config(**small_mnist, num_epochs=2)  # 10 steps an epoch.
  train.train_and_evaluate(config, str(tmp_path))
  final = tmp_path / runs.CHECKPOINT_DIR / '20'
  final.rename(final.with_name('20.orbax-checkpoint-tmp-1234'))  # A save cut off midway.
  (tmp_path / runs.RESULTS_FILE).unlink()
  assert runs.Checkpoints(tmp_path).latest_step() == 10
  assert train.train_and_evaluate(config, str(tmp_path))['step'] == 20


def test_divergence_stops_at_its_step(tmp_path):
  config = tiny_config(batch_size=600, learning_rate=1e30)
  with pytest.raises(UserError, match=r'loss became (nan|inf|-inf) at step \d+ \(epoch 1\); '
                                      r'no checkpoint was saved yet'):
    train.train_and_evaluate(config, str(tmp_path))


def _run_cli(*args):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  return subprocess.run([sys.executable, str(ROOT / 'experiments' / 'train.py'), *args],
                        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_cli_prints_one_line_and_exits_non_zero(tmp_path):
  result = _run_cli(f'--workdir={tmp_path}', '--config.objective=elbow')
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: unknown objective 'elbow'; choose one of "
      "('vae', 'iwae', 'miwae', 'ciwae', 'piwae')")


def test_cli_rejects_a_malformed_override(tmp_path):
  result = _run_cli(f'--workdir={tmp_path}', '--config.num_samples=five')
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr
  assert 'num_samples' in result.stderr


def test_loading_a_run_without_config_or_checkpoint(tmp_path):
  with pytest.raises(UserError, match='holds no run: config.json is missing'):
    vaejax.load(tmp_path)
  runs.prepare_workdir(tmp_path, tiny_config())
  with pytest.raises(UserError, match='holds no complete checkpoint yet'):
    vaejax.load(tmp_path)


@pytest.mark.parametrize('script, args, message', [
    ('train.py', ['--config=nowhere.py'], 'config file nowhere.py does not exist'),
    ('train.py', ['--config.num_samples=abc'],
     "flag --config.num_samples=abc: invalid literal for int() with base 10: 'abc'"),
    ('train.py', ['--config.num_groups=0'], 'num_groups (M) must be at least 1, got 0'),
    ('train.py', ['--config.objective=ciwae', '--config.ciwae_beta=1.5'],
     'ciwae_beta must be in [0, 1], got 1.5'),
    ('train.py', ['--config=vaejax/configs/from_run.py:nowhere'],
     'nowhere holds no run: config.json is missing'),
    ('sweep_latent.py', ['--latent_dims=2,5,2'], "--latent_dims repeats a value: ['2', '5', '2']"),
    ('sweep_latent.py', ['--latent_dims=2,-1'], 'latent_dim must be at least 1, got -1'),
    ('sweep_latent.py', ['--latent_dims=2', '5'],
     "unexpected argument '5': every setting is a flag, --name=value (a list flag takes one "
     "comma-separated value)"),
])
def test_each_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, script, args, message):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  result = subprocess.run(
      [sys.executable, str(ROOT / 'experiments' / script), f'--workdir={tmp_path}/run', *args],
      capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [f'error: {message}']
  assert not (tmp_path / 'run').exists()
