"""Data parallelism over 8 (simulated CPU) devices, and a two-process (multi-host) run."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vaejax
from vaejax.errors import UserError
from vaejax.training import sharding
from vaejax.training import train
from vaejax.training import trainstate
from tests.conftest import tiny_config

ROOT = pathlib.Path(__file__).parent.parent


@pytest.mark.multidevice
def test_batch_split_over_eight_devices_matches_one_device():
  exp = train.build(tiny_config())
  step = train.make_train_step(exp.model, exp.objective, exp.optimizer)
  images = exp.dataset.train_images[:4000]
  init = lambda: trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, jnp.full(784, 0.13))
  state, single = train.make_train_epoch(step, 4000, 200)(
      init(), jnp.asarray(images), exp.keys.data, exp.keys.train, 0)

  mesh = sharding.data_mesh(8, 200)
  epoch = train.make_train_epoch(step, 4000, 200, mesh)
  args = (sharding.replicate(init(), mesh), sharding.replicate(images, mesh), exp.keys.data,
          exp.keys.train, 0)
  assert 'all-reduce' in epoch.lower(*args).compile().as_text()  # The gradient is summed.
  split, metrics = epoch(*args)
  kernel = split.params['decoder']['x']['Dense_0']['kernel']
  assert len(kernel.sharding.device_set) == 8 and kernel.sharding.is_fully_replicated
  np.testing.assert_allclose(metrics['loss'], single['loss'], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
               split.params, state.params)


@pytest.mark.multidevice
def test_data_parallel_run_matches_the_single_device_run(small_mnist, tmp_path):
  solo = train.train_and_evaluate(tiny_config(**small_mnist, snr_num_draws=0),
                                  str(tmp_path / 'one'))
  split = train.train_and_evaluate(tiny_config(**small_mnist, snr_num_draws=0, num_devices=0),
                                   str(tmp_path / 'all'))
  assert split['nll'] == pytest.approx(solo['nll'], rel=1e-4)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
               vaejax.load(tmp_path / 'all').params, vaejax.load(tmp_path / 'one').params)


@pytest.mark.multidevice
@pytest.mark.parametrize('num_devices, message', [
    (9, 'only 8 cpu devices are visible'),
    (3, 'batch_size 200 does not split evenly across 3 devices'),
    (-1, 'num_devices must be 0'),
])
def test_bad_device_counts_are_one_line_errors(num_devices, message, tmp_path):
  with pytest.raises(UserError, match=message):
    train.train_and_evaluate(tiny_config(num_devices=num_devices), str(tmp_path))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.heavy
def test_two_processes_train_one_run_and_only_process_zero_writes(small_mnist, tmp_path):
  overrides = dict(small_mnist, num_epochs=2, num_devices=0, eval_num_samples=4,
                   eval_chunk_size=4, snr_num_draws=0)
  port, workdir = _free_port(), tmp_path / 'multihost'
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'JAX_NUM_CPU_DEVICES': '1'}
  processes = [subprocess.Popen(
      [sys.executable, str(ROOT / 'experiments' / 'train.py'), '--multihost',
       f'--coordinator_address=localhost:{port}', '--num_processes=2', f'--process_id={i}',
       f'--workdir={workdir}', f'--config={ROOT}/vaejax/configs/tiny.py',
       *[f'--config.{k}={v}' for k, v in overrides.items()]],
      env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(2)]
  outputs = [p.communicate(timeout=600) for p in processes]
  for p, (_, stderr) in zip(processes, outputs):
    assert p.returncode == 0, stderr[-3000:]
  assert 'Process 1 of 2; 2 devices in all' in outputs[1][1]
  alone = train.train_and_evaluate(tiny_config(**{**overrides, 'num_devices': 1}),
                                   str(tmp_path / 'alone'))
  results = json.loads((workdir / 'results.json').read_text())
  assert results['nll'] == pytest.approx(alone['nll'], rel=1e-4)
  splits = [json.loads(l)['split'] for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert splits == ['train', 'train', 'final']  # Written once, by process 0.
