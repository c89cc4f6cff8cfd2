"""Crashes, damage and mistakes, one set of tests over every trainer (VAE, M2, vmapped sweep).

Each trainer's reference run trains 2 epochs without interruption; each test breaks a copy of
it (or a run of it) the way a user's run breaks, runs the same call again, and asks for the
reference's records, results and parameters bit for bit, with no manual step.
"""

import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import subprocess
import struct
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from vaejax import runs
from vaejax.configs import semi_supervised
from vaejax.errors import UserError
from vaejax.training import loop
from vaejax.training import sweep
from vaejax.training import train
from vaejax.training import train_m2
from tests.conftest import tiny_config

TRAINERS = ('vae', 'm2', 'sweep')
ROOT = pathlib.Path(__file__).parent.parent
STEPS_PER_EPOCH = {'vae': 10, 'm2': 14, 'sweep': 10}  # Both epochs checkpointed.


class Killed(BaseException):
  """Stands for a kill: nothing of the trainer's may catch it."""


def _configs(trainer, small_mnist, **overrides):
  if trainer == 'm2':
    config = semi_supervised.get_config()
    config.update(**small_mnist, num_validation=500, hidden_units=32, latent_dim=4,
                  labelled_batch_size=50, num_epochs=2, eval_every_epochs=0,
                  eval_num_samples=2, checkpoint_every_epochs=1, learning_rate=1e-3)
    config.update(**overrides)
    return [config]
  config = tiny_config(**small_mnist, num_epochs=2, snr_num_draws=0, **overrides)
  if trainer == 'vae':
    return [config]
  return [config, tiny_config(**{**config, 'latent_dim': 3, 'seed': 1})]


def _workdirs(trainer, root):
  return [root / 'a', root / 'b'] if trainer == 'sweep' else [root]


def _train(trainer, small_mnist, root, **overrides):
  """The trainer's results, one per run directory."""
  configs = _configs(trainer, small_mnist, **overrides)
  workdirs = [str(w) for w in _workdirs(trainer, root)]
  if trainer == 'vae':
    return [train.train_and_evaluate(configs[0], workdirs[0])]
  if trainer == 'm2':
    return [train_m2.train_and_evaluate(configs[0], workdirs[0])]
  return sweep.train_and_evaluate_many(configs, workdirs, 'vmap')


def _params(workdir):
  return jax.tree.map(np.asarray, runs.restore(workdir).params)


def _untimed(results):
  return [{k: v for k, v in r.items() if k != 'train_seconds'} for r in results]


@pytest.fixture(scope='module', params=TRAINERS)
def reference(request, small_mnist, tmp_path_factory):
  trainer = request.param
  root = tmp_path_factory.mktemp(f'reference_{trainer}')
  return trainer, root, _train(trainer, small_mnist, root)


def _assert_as_reference(reference, root, results):
  trainer, reference_root, expected = reference
  assert _untimed(results) == _untimed(expected)
  for workdir, expected_dir in zip(_workdirs(trainer, root), _workdirs(trainer, reference_root)):
    assert ((workdir / runs.METRICS_FILE).read_text()
            == (expected_dir / runs.METRICS_FILE).read_text())
    jax.tree.map(np.testing.assert_array_equal, _params(workdir), _params(expected_dir))
    assert runs.Checkpoints(workdir).verified_steps() == [STEPS_PER_EPOCH[trainer] * e
                                                          for e in (1, 2)]


def _copy(reference, tmp_path):
  """A copy of the finished reference run, without its results (as if not finished)."""
  trainer, root, _ = reference
  shutil.copytree(root, tmp_path / 'run')
  for workdir in _workdirs(trainer, tmp_path / 'run'):
    (workdir / runs.RESULTS_FILE).unlink()
  return tmp_path / 'run'


def _kill_at(monkeypatch, method, call):
  """Makes the `call`-th call (from 0) of the runs.RunDir or runs.MetricsLog method end in
  a Killed, just after it did its work."""
  cls, name = method.split('.')
  real = getattr(getattr(runs, cls), name)
  calls = []

  def killed(self, *args):
    real(self, *args)
    calls.append(1)
    if len(calls) == call + 1:
      raise Killed
  monkeypatch.setattr(getattr(runs, cls), name, killed)


def test_killed_just_after_a_checkpoint(reference, small_mnist, tmp_path, monkeypatch):
  """(For the sweep, member a's first checkpoint has no partner in b: both start afresh.)"""
  trainer = reference[0]
  _kill_at(monkeypatch, 'RunDir.save', 0)
  with pytest.raises(Killed):
    _train(trainer, small_mnist, tmp_path)
  monkeypatch.undo()
  _assert_as_reference(reference, tmp_path, _train(trainer, small_mnist, tmp_path))


def test_killed_at_a_random_moment(reference, small_mnist, tmp_path, monkeypatch):
  """Killed after a record at random (seeded): the records after the last checkpoint are
  dropped and written again."""
  trainer = reference[0]
  records = sum(len(runs.MetricsLog(w).records()) for w in _workdirs(trainer, reference[1]))
  _kill_at(monkeypatch, 'MetricsLog.write', random.Random(trainer).randrange(records))
  with pytest.raises(Killed):
    _train(trainer, small_mnist, tmp_path)
  monkeypatch.undo()
  _assert_as_reference(reference, tmp_path, _train(trainer, small_mnist, tmp_path))


def test_checkpoint_without_its_manifest(reference, small_mnist, tmp_path, caplog):
  """A kill between orbax's commit and the manifest: resumed from the checkpoint before."""
  trainer = reference[0]
  run = _copy(reference, tmp_path)
  last = STEPS_PER_EPOCH[trainer] * 2
  (_workdirs(trainer, run)[0] / runs.CHECKPOINT_DIR / str(last) / runs.MANIFEST_FILE).unlink()
  _assert_as_reference(reference, run, _train(trainer, small_mnist, run))
  assert any(f'{last} is incomplete or damaged' in r.getMessage() for r in caplog.records)
  steps = STEPS_PER_EPOCH[trainer]
  for workdir in _workdirs(trainer, run):  # Step 2s once, not twice.
    assert _tensorboard_steps(workdir, 'train/loss') == [steps, 2 * steps]


def _tensorboard_steps(workdir, tag):
  """The steps TensorBoard shows for tag: each events file's purge step (a SessionLog START)
  hides the earlier files' events from that step on."""
  steps = []
  for path in sorted(workdir.glob('events.out.tfevents.*')):
    raw, at = path.read_bytes(), 0
    while at < len(raw):
      length = struct.unpack('<Q', raw[at:at + 8])[0]
      event = event_pb2.Event.FromString(raw[at + 12:at + 12 + length])
      at += 16 + length
      if event.HasField('session_log') and event.session_log.status == event.session_log.START:
        steps = [s for s in steps if s < event.step]
      steps += [event.step for v in event.summary.value if v.tag == tag]
  return steps


def test_damaged_checkpoint(reference, small_mnist, tmp_path):
  trainer = reference[0]
  run = _copy(reference, tmp_path)
  step_dir = _workdirs(trainer, run)[0] / runs.CHECKPOINT_DIR / str(STEPS_PER_EPOCH[trainer] * 2)
  damaged = [p for p in step_dir.rglob('*') if p.is_file() and p.parent.name == 'd']
  assert damaged  # OCDBT data files.
  damaged[0].write_bytes(b'garbage')
  with pytest.raises(UserError, match=f'checkpoint {step_dir} is corrupt or incomplete'):
    runs.Checkpoints(step_dir.parent.parent).restore(STEPS_PER_EPOCH[trainer] * 2, None)
  _assert_as_reference(reference, run, _train(trainer, small_mnist, run))


def test_nan_keeps_the_last_good_checkpoint(reference, small_mnist, tmp_path, monkeypatch):
  """Every run's loss reads NaN from the 6th step of the second epoch on."""
  trainer = reference[0]
  real = loop.make_train_epoch
  steps = STEPS_PER_EPOCH[trainer]

  def poisoned(*args):
    epoch_fn = real(*args)

    def train_epoch(state, data, data_key, train_key, epoch):
      state, metrics = epoch_fn(state, data, data_key, train_key, epoch)
      return state, {'loss': metrics['loss'].at[5:].set(jnp.nan) if epoch == 1 else
                     metrics['loss']}
    return train_epoch

  monkeypatch.setattr(loop, 'make_train_epoch', poisoned)
  message = (fr'loss became nan at step {steps + 5} \(epoch 2\); the last good checkpoint '
             fr'\(step {steps}\) is kept')
  if trainer == 'sweep':  # Members fail alone, recorded; the sweep goes on without them.
    assert all(re.match(message, r['failed']) for r in _train(trainer, small_mnist, tmp_path))
  else:
    with pytest.raises(runs.Diverged, match=message):
      _train(trainer, small_mnist, tmp_path)
  for workdir in _workdirs(trainer, tmp_path):
    error = json.loads((workdir / runs.ERROR_FILE).read_text())
    assert (error['step'], error['checkpoint']) == (steps + 5, steps)
    assert runs.Checkpoints(workdir).all_steps() == [steps]
  monkeypatch.undo()
  if trainer == 'sweep':  # A failed member is not retried: its error is read back.
    assert all(re.match(message, r['failed']) for r in _train(trainer, small_mnist, tmp_path))
  else:
    _assert_as_reference(reference, tmp_path, _train(trainer, small_mnist, tmp_path))


def test_allowed_and_refused_config_changes(reference, small_mnist, tmp_path):
  trainer = reference[0]
  run = _copy(reference, tmp_path)
  with pytest.raises(UserError, match=r'different config \(learning_rate: 0.001 -> 0.002\)'):
    _train(trainer, small_mnist, run, learning_rate=2e-3)
  _assert_as_reference(reference, run, _train(trainer, small_mnist, run, max_checkpoints=3))
  for workdir in _workdirs(trainer, run):
    assert runs.read_config(workdir).max_checkpoints == 3
    changes = (workdir / runs.CONFIG_CHANGES_FILE).read_text().splitlines()
    assert json.loads(changes[0]) == {'changed': {'max_checkpoints': [2, 3]}}


def test_a_second_process_is_refused_and_a_kill_9_leaves_nothing_to_clean(small_mnist,
                                                                          tmp_path):
  """Real processes: one holding the run directory's lock, then experiments/train.py."""
  workdir = tmp_path / 'run'
  workdir.mkdir()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time; from vaejax import runs; '
       'runs.lock(sys.argv[1]); print("locked", flush=True); time.sleep(600)', str(workdir)],
      env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == 'locked'
  command = [sys.executable, str(ROOT / 'experiments' / 'train.py'), f'--workdir={workdir}',
             f'--config={ROOT}/vaejax/configs/tiny.py',
             *[f'--config.{k}={v}' for k, v in small_mnist.items()]]
  try:
    refused = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
  finally:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
  assert refused.returncode == 1
  assert refused.stderr.strip().splitlines()[-1] == (
      f'error: workdir {workdir} is in use by process {holder.pid} on {socket.gethostname()}: '
      f'one process per run directory; wait for it to end, or use another --workdir')
  assert not (workdir / runs.CONFIG_FILE).exists()  # Refused before it wrote anything.
  again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
  assert again.returncode == 0, again.stderr[-2000:]
  assert (workdir / runs.RESULTS_FILE).exists()
