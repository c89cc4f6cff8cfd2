"""Training: golden values, one compilation, reproducibility, resumption, learning."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np

import vaejax
from vaejax import runs
from vaejax.configs import burda2015
from vaejax.configs import burda2015_two_layer
from vaejax.data import datasets
from vaejax.logpx import importance
from vaejax.training import train
from vaejax.training import trainstate
from tests.conftest import tiny_config


def _first_steps(config, num_steps):
  exp = train.build(config)
  state = trainstate.init_state(exp.model, exp.optimizer, exp.keys.init,
                           exp.dataset.train_images.mean(axis=0) / 255.0)
  step = jax.jit(train.make_train_step(exp.model, exp.objective, exp.optimizer))
  batch = jnp.asarray(exp.dataset.train_images[:20])
  losses = []
  for s in range(num_steps):
    state, metrics = step(state, batch, jax.random.fold_in(exp.keys.train, s))
    losses.append(float(metrics['loss']))
  return state, losses


# The first losses of tiny_config(num_samples=5) and of burda2015 (num_samples=5), seed 0, on
# the first 20 MNIST images (CPU, float32). A change here means a change in what training
# computes. (Changed when the Gaussian heads took each its own Glorot fan-out.)
GOLDEN_LOSSES = [204.2914581298828, 199.9274444580078]
GOLDEN_RELEASED_LOSSES = [204.3385772705078, 203.17385864257812, 202.4149627685547]


def test_golden_first_steps():
  state, losses = _first_steps(tiny_config(num_samples=5), 2)
  np.testing.assert_allclose(losses, GOLDEN_LOSSES, rtol=1e-5)
  assert int(state.step) == 2


def test_golden_first_steps_of_the_released_setup():
  config = burda2015.get_config()
  config.update(num_samples=5, num_epochs=1)
  _, losses = _first_steps(config, 3)
  np.testing.assert_allclose(losses, GOLDEN_RELEASED_LOSSES, rtol=1e-5)


def test_burda2015_selects_the_released_setup():
  for config in (burda2015.get_config(), burda2015_two_layer.get_config()):
    assert (config.train_examples, config.shuffle, config.schedule, config.optimizer,
            config.adam_b1, config.adam_b2, config.adam_eps, config.gradient_reduction,
            config.batch_size, config.num_epochs, config.eval_num_samples) == (
                59_600, False, 'iwae_released', 'released_adam', 0.99, 0.999, 1e-4, 'sum', 20,
                3280, 5000)
  assert burda2015_two_layer.get_config().architecture == 'two_layer'


def _two_updates(optimizer, grads):
  first, state = optimizer.update(grads, optimizer.init(grads))
  second, _ = optimizer.update(grads, state)
  return [first['w'], second['w']]


def test_summed_gradient_is_the_batch_size_times_the_mean():
  grads = {'w': jnp.arange(1.0, 7.0).reshape(2, 3)}
  for optimizer in ('adam', 'released_adam'):  # The released Adam moves from step 2 on.
    config = tiny_config(optimizer=optimizer, batch_size=20)
    summed = trainstate.make_optimizer(tiny_config(**{**config, 'gradient_reduction': 'sum'}), 1)
    mean = trainstate.make_optimizer(config, 1)
    np.testing.assert_allclose(_two_updates(summed, grads),
                               _two_updates(mean, {'w': 20 * grads['w']}), rtol=1e-6)
    assert np.all(_two_updates(summed, grads)[1] != 0)


def test_unshuffled_epochs_take_the_first_images_in_order():
  np.testing.assert_array_equal(
      datasets.epoch_batches(trainstate.run_keys(0).data, 3, 100, 20, False),
      np.arange(100).reshape(5, 20))
  images = np.random.default_rng(0).integers(0, 256, (50, 784), np.uint8)
  dataset = datasets.Dataset(images, np.arange(50), images[:10], np.arange(10), (28, 28, 1))
  exp = train.build(tiny_config(train_examples=30, batch_size=10), dataset)
  np.testing.assert_array_equal(exp.dataset.train_images, images[:30])
  assert exp.steps_per_epoch == 3


def test_epoch_compiles_once():
  """Also with a learned scale (a parameter built by jnp.full would be weakly typed and come
  back from the first epoch strongly typed: a second compilation)."""
  exp = train.build(tiny_config(likelihood='gaussian'))
  state = trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, jnp.full(784, 0.13))
  epoch = train.make_train_epoch(train.make_train_step(exp.model, exp.objective, exp.optimizer),
                                 6000, 200)
  images = jnp.asarray(exp.dataset.train_images[:6000])
  for e in range(3):
    state, metrics = epoch(state, images, exp.keys.data, exp.keys.train, e)
  assert metrics['loss'].shape == (30,)
  assert int(state.step) == 90
  assert epoch._cache_size() == 1


def test_data_order_is_a_function_of_seed_and_epoch():
  key = trainstate.run_keys(0).data
  a = datasets.epoch_batches(key, 3, 1000, 20)
  np.testing.assert_array_equal(a, datasets.epoch_batches(key, 3, 1000, 20))
  assert not np.array_equal(a, datasets.epoch_batches(key, 4, 1000, 20))
  assert not np.array_equal(a, datasets.epoch_batches(trainstate.run_keys(1).data, 3, 1000, 20))
  assert sorted(np.asarray(a).ravel().tolist()) == list(range(1000))


def test_short_training_lowers_test_nll(trained_run):
  workdir, results = trained_run
  config = runs.read_config(workdir)
  exp = train.build(config)
  init = exp.model.init(exp.keys.init, exp.dataset.train_images.mean(axis=0) / 255.0)
  before = importance.evaluate(exp.model, init, exp.dataset.test_images, exp.keys.eval,
                             config.eval_num_samples, config.num_samples, 500, 8)
  assert results['nll'] < before['nll'] - 50, (results['nll'], before['nll'])
  assert results['iwae_k'] >= results['elbo']
  assert -results['nll'] >= results['iwae_k'] - 0.5
  assert 0 < results['active_units_train500'] <= config.latent_dim


def _params(workdir):
  return jax.tree.map(np.asarray, vaejax.load(workdir).params)


def _assert_same_run(a, b):
  assert (a / runs.METRICS_FILE).read_bytes() == (b / runs.METRICS_FILE).read_bytes()
  jax.tree.map(np.testing.assert_array_equal, _params(a), _params(b))


def test_same_seed_same_run_resumed_run_equal_other_seed_differs(small_mnist, tmp_path):
  config = tiny_config(**small_mnist, num_epochs=2)  # 10 steps an epoch.
  a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
  train.train_and_evaluate(config, str(a))
  train.train_and_evaluate(config, str(b))
  _assert_same_run(a, b)

  # Lose the second epoch, as if the run had died after its first checkpoint.
  shutil.rmtree(b / runs.CHECKPOINT_DIR / '20')
  (b / runs.RESULTS_FILE).unlink()
  assert runs.Checkpoints(b).latest_step() == 10
  train.train_and_evaluate(config, str(b))
  _assert_same_run(a, b)

  config.seed = 1
  train.train_and_evaluate(config, str(c))
  assert (a / runs.METRICS_FILE).read_bytes() != (c / runs.METRICS_FILE).read_bytes()
  assert not np.array_equal(_params(a)['decoder']['x']['Dense_2']['kernel'],
                            _params(c)['decoder']['x']['Dense_2']['kernel'])


def test_finished_run_is_not_retrained(trained_run):
  workdir, results = trained_run
  before = (workdir / runs.METRICS_FILE).read_bytes()
  assert train.train_and_evaluate(runs.read_config(workdir), str(workdir)) == results
  assert (workdir / runs.METRICS_FILE).read_bytes() == before


def test_a_run_from_before_newer_config_fields_still_loads_and_resumes(trained_run, tmp_path):
  workdir, results = trained_run
  old = tmp_path / 'old'
  shutil.copytree(workdir, old)
  config = json.loads((old / runs.CONFIG_FILE).read_text())
  for field in ('likelihood', 'num_devices', 'train_examples', 'shuffle', 'optimizer',
                'gradient_reduction'):  # Added to vaejax after such runs.
    del config[field]
  (old / runs.CONFIG_FILE).write_text(json.dumps(config))
  assert train.train_and_evaluate(tiny_config(), str(old)) == results
  assert vaejax.load(old).model.likelihood.name == 'bernoulli'
  # Without its checkpoints the old run trains again, along the path it first took.
  shutil.rmtree(old / 'checkpoints')
  (old / runs.RESULTS_FILE).unlink()
  again = train.train_and_evaluate(tiny_config(), str(old))
  untimed = lambda r: {k: v for k, v in r.items() if 'seconds' not in k}
  assert untimed(again) == untimed(results)


def test_per_example_estimates_are_the_test_nlls_terms(trained_run):
  workdir, results = trained_run
  run = vaejax.load(workdir)
  config = run.config
  stats = importance.per_example(run.model, run.params, datasets.load('mnist').test_images,
                               trainstate.run_keys(config.seed).eval, config.eval_num_samples,
                               config.eval_batch_size, config.eval_chunk_size)
  assert -np.mean(stats['log_px']) == np.float32(results['nll'])


def test_every_run_key_is_distinct():
  keys = [jax.random.key_data(k).tolist() for k in trainstate.run_keys(0)]
  assert len({tuple(k) for k in keys}) == len(trainstate.RunKeys._fields)


def test_older_runs_keep_their_keys():
  old_fields = ('init', 'data', 'train', 'eval', 'diagnostics', 'analysis')
  old = jax.random.split(jax.random.key(0), len(old_fields))
  keys = trainstate.run_keys(0)
  for i, name in enumerate(old_fields):
    np.testing.assert_array_equal(jax.random.key_data(getattr(keys, name)),
                                  jax.random.key_data(old[i]))


def test_fixed_binarization_draws_from_its_own_key():
  images = np.random.default_rng(0).integers(0, 256, (50, 784), np.uint8)
  mnist = datasets.Dataset(images, np.zeros(50, np.int64), images[:10], np.zeros(10, np.int64),
                       (28, 28, 1))
  exp = train.build(tiny_config(binarization='fixed', batch_size=10), mnist)
  train_key, test_key = jax.random.split(exp.keys.binarization)
  np.testing.assert_array_equal(exp.dataset.train_images,
                                datasets.fixed_binarization(mnist.train_images, train_key))
  np.testing.assert_array_equal(exp.dataset.test_images,
                                datasets.fixed_binarization(mnist.test_images, test_key))


def test_evaluations_checkpoint_pruning_and_fixed_binarization_in_a_real_run(small_mnist,
                                                                            tmp_path):
  config = tiny_config(**small_mnist, num_epochs=3, eval_every_epochs=1, max_checkpoints=2,
                       binarization='fixed', eval_batch_size=250)
  results = train.train_and_evaluate(config, str(tmp_path))
  records = runs.MetricsLog(tmp_path).records()
  assert [(r['split'], r['step']) for r in records if r['split'] != 'train'] == [
      ('test', 10), ('test', 20), ('final', 30)]
  assert sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir()) == [20, 30]
  exp = train.build(config)
  assert set(np.unique(exp.dataset.train_images).tolist()) == {0, 255}
  assert np.isfinite(results['nll'])
