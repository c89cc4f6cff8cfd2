"""vaejax.load: a saved run as a handful of array functions."""

import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import vaejax
from vaejax import runs
from vaejax.data import datasets


def test_load_restores_the_trained_run(trained_run):
  workdir, results = trained_run
  run = vaejax.load(workdir)
  assert run.step == results['step']
  x = datasets.load('mnist').test_images[:8] / 255.0
  mean, std = run.encode(x)
  assert mean.shape == std.shape == (8, 50) and np.all(std > 0)
  logits = run.decode(mean)
  assert logits.shape == (8, 784)
  samples = run.sample(jax.random.key(0), 5)
  assert samples.shape == (5, 784) and np.all((samples >= 0) & (samples <= 1))


def test_log_likelihood_is_deterministic_per_key_and_bounded_by_the_elbo(trained_run):
  workdir, _ = trained_run
  run = vaejax.load(workdir)
  x = (datasets.load('mnist').test_images[:16] > 127).astype(np.float32)
  a = run.log_likelihood(x, jax.random.key(1), num_samples=100)
  np.testing.assert_array_equal(a, run.log_likelihood(x, jax.random.key(1), num_samples=100))
  assert a.shape == (16,) and np.all(a < 0)
  one_sample = np.mean(run.log_likelihood(x, jax.random.key(2), num_samples=1))
  assert np.mean(a) > one_sample


def test_import_leaves_matplotlib_backend_alone():
  code = 'import vaejax, vaejax.pictures, matplotlib; print(matplotlib.get_backend())'
  env = {**os.environ, 'MPLBACKEND': 'svg', 'JAX_PLATFORMS': 'cpu'}
  out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                       check=True, cwd=pathlib.Path(__file__).parent.parent)
  assert out.stdout.strip() == 'svg'


def test_load_needs_no_dataset_and_warns_about_other_versions(trained_run, tmp_path, caplog):
  workdir = tmp_path / 'run'
  shutil.copytree(trained_run[0], workdir)
  config = json.loads((workdir / runs.CONFIG_FILE).read_text())
  (workdir / runs.CONFIG_FILE).write_text(json.dumps({**config, 'dataset': 'idx:/gone'}))
  info = json.loads((workdir / runs.RUN_INFO_FILE).read_text())
  assert info['image_shape'] == [28, 28, 1]
  info['environment']['versions']['jax'] = '0.4.0'
  # On CPU the core count and the CPU's vector extensions change the numbers too.
  info['environment']['cpu_cores'], info['environment']['cpu'] = 64, 'Other CPU, avx512f'
  (workdir / runs.RUN_INFO_FILE).write_text(json.dumps(info))
  with caplog.at_level(logging.WARNING):
    run = vaejax.load(workdir)
  assert run.model.image_shape == (28, 28, 1)
  warnings = [r.getMessage() for r in caplog.records if 'other versions' in r.getMessage()]
  cores = len(os.sched_getaffinity(0))
  assert len(warnings) == 1 and f'jax 0.4.0 -> {jax.__version__}' in warnings[0]
  assert f'cpu_cores 64 -> {cores}' in warnings[0]
  assert f'cpu Other CPU, avx512f -> {runs.cpu()}' in warnings[0]
  # A run from before the core count and the CPU were recorded.
  del info['environment']['cpu_cores'], info['environment']['cpu']
  (workdir / runs.RUN_INFO_FILE).write_text(json.dumps(info))
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    vaejax.load(workdir)
  warnings = [r.getMessage() for r in caplog.records if 'other versions' in r.getMessage()]
  assert len(warnings) == 1 and 'cpu_cores' not in warnings[0] and 'cpu ' not in warnings[0]


def test_cpu_names_the_model_and_the_widest_vector_extension():
  """On this machine's /proc/cpuinfo: the widest extension it lists, none wider."""
  model, extension = runs.cpu().rsplit(', ', 1)
  flags = pathlib.Path('/proc/cpuinfo').read_text()
  has = lambda name: re.search(rf'\b{name}\b', flags) is not None
  assert model and extension in runs.CPU_EXTENSIONS and has(extension)
  assert not any(has(wider)
                 for wider in runs.CPU_EXTENSIONS[:runs.CPU_EXTENSIONS.index(extension)])


def test_a_run_without_run_json_reads_its_shape_from_its_data(trained_run, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(trained_run[0], workdir)
  (workdir / runs.RUN_INFO_FILE).unlink()
  assert vaejax.load(workdir).model.image_shape == (28, 28, 1)


@pytest.mark.parametrize('images, message', [
    (np.zeros((2, 783)), r'images must be \[N, 784\] \(N flattened 28x28x1 images\)'),
    (np.full((2, 784), np.nan), 'images contain NaN'),
    (np.full((2, 784), 2.0), r'image values must be in \[0, 1\]'),
    (np.full((2, 784), 0.5), 'a Bernoulli model scores binary images'),
])
def test_log_likelihood_refuses_images_it_cannot_score(trained_run, images, message):
  run = vaejax.load(trained_run[0])
  with pytest.raises(vaejax.UserError, match=message) as error:
    run.log_likelihood(images, jax.random.key(0), num_samples=4)
  assert '\n' not in str(error.value)


def test_log_likelihood_binarizes_uint8_images(trained_run):
  run = vaejax.load(trained_run[0])
  images = datasets.load('mnist').test_images[:4]
  log_px = run.log_likelihood(images, jax.random.key(0), num_samples=4)
  assert log_px.shape == (4,) and np.all(np.isfinite(log_px)) and np.all(log_px < 0)


def test_import_starts_no_jax_backend():
  """Scripts configure JAX after importing vaejax (jax.distributed.initialize, device counts)."""
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  code = ("import vaejax, jax; jax.config.update('jax_num_cpu_devices', 3); "
          "print(jax.device_count())")
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=env, timeout=300)
  assert result.stdout.strip() == '3', result.stderr[-2000:]
