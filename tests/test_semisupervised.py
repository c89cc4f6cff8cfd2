"""M2's bounds, the semi-supervised splits and data order, and M2 training end to end."""

import json
import shutil

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax import runs
from vaejax.bounds import objectives
from vaejax.configs import semi_supervised
from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.models import likelihoods
from vaejax.models.m2 import M2
from vaejax.semisupervised import classifiers
from vaejax.semisupervised import splits
from vaejax.training import train_m2
from vaejax.training import trainstate


def small_config(small_mnist, **overrides):
  """M2 on the first 2000 MNIST images: 500 for validation, 100 labelled, a small net."""
  config = semi_supervised.get_config()
  config.update(**small_mnist, num_validation=500, hidden_units=64, latent_dim=8,
                labelled_batch_size=50, num_epochs=2, eval_every_epochs=1,
                eval_num_samples=3, checkpoint_every_epochs=1, learning_rate=1e-3)
  config.update(**overrides)
  return config


def tiny_model(num_classes=3, likelihood=likelihoods.Bernoulli()):
  model = M2(num_classes, 4, (16,), 12, likelihood)
  params = jax.jit(model.init)(jax.random.key(0), jnp.full(12, 0.3))
  x = jax.random.bernoulli(jax.random.key(1), 0.4, (12,)).astype(jnp.float32)
  return model, params, x


def _explicit_log_weights(model, params, x, key, num_samples):
  """log w_k(x, y) [C, K] in float64, written out: log p(x | y, z_k) (Bernoulli) + log p(y)
  + log N(z_k; 0, I) - log N(z_k; mean(x, y), std(x, y)^2), the classes sharing the draws."""
  eps = np.asarray(jax.vmap(lambda k: jax.random.normal(k, (model.latent_dim,)))(
      jax.random.split(key, num_samples)), np.float64)
  decode = jax.jit(jax.vmap(model.decode, in_axes=(None, 0, None)))
  x = np.asarray(x, np.float64)
  rows = []
  for y in range(model.num_classes):
    mean, std = (np.asarray(a, np.float64) for a in model.encode(params, x, y))
    z = mean + std * eps
    logits = np.asarray(decode(params, jnp.asarray(z, jnp.float32), y), np.float64)
    log_px = (x * logits - np.logaddexp(0, logits)).sum(-1)
    log_pz = (-0.5 * z**2 - 0.5 * np.log(2 * np.pi)).sum(-1)
    log_qz = (-0.5 * eps**2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    rows.append(log_px - np.log(model.num_classes) + log_pz - log_qz)
  return np.stack(rows)


def _iwae(log_w):
  return np.logaddexp.reduce(log_w, axis=-1) - np.log(log_w.shape[-1])


def test_m2_bounds_against_their_formulas():
  """L(x, y) (ELBO and IWAE) and U(x) = sum_y q(y | x) (L(x, y) - log q(y | x)) against the
  written-out log weights (the loss's weighting of them: test_semisupervised_setups)."""
  model, params, x = tiny_model()
  key, k = jax.random.key(2), 5
  log_w = _explicit_log_weights(model, params, x, key, k)
  log_q = np.asarray(jax.nn.log_softmax(model.class_logits(params, x)), np.float64)
  class_bounds = jax.jit(model.class_bounds, static_argnums=(3, 4))
  np.testing.assert_allclose(class_bounds(params, x, key, objectives.elbo, k), log_w.mean(-1),
                             rtol=1e-5)
  np.testing.assert_allclose(class_bounds(params, x, key, objectives.iwae, k), _iwae(log_w),
                             rtol=1e-5)
  for bound, per_class in ((objectives.elbo, log_w.mean(-1)), (objectives.iwae, _iwae(log_w))):
    unlabelled = jax.jit(model.unlabelled_bound, static_argnums=(3, 4))(params, x, key, bound, k)
    np.testing.assert_allclose(unlabelled, np.sum(np.exp(log_q) * (per_class - log_q)),
                               rtol=1e-5)


def test_m2_epoch_compiles_once(small_mnist, tmp_path):
  config = small_config(small_mnist, likelihood='gaussian')  # Its scale: test_train's why.
  exp = train_m2.build(config, str(tmp_path))
  d = exp.data
  epoch = train_m2.make_train_epoch(
      train_m2.make_train_step(exp.model, exp.objective, exp.weight, exp.optimizer,
                                     config.weighting,
                                     train_m2.make_prepare(exp.model, config)),
      len(d.unlabelled_x), config.batch_size, len(d.labelled_x), config.labelled_batch_size)
  state = trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, jnp.full(784, 0.13))
  inputs = jax.device_put((d.unlabelled_x, d.labelled_x, d.labelled_y))
  for e in range(2):
    state, metrics = epoch(state, inputs, exp.keys.data, exp.keys.train, e)
  assert metrics['loss'].shape == (exp.steps_per_epoch,)
  assert int(state.step) == 2 * exp.steps_per_epoch
  assert epoch._cache_size() == 1


def test_labelled_subset_balanced_disjoint_and_a_function_of_seed_and_n():
  labels = np.random.default_rng(0).integers(0, 10, 5000)
  s = splits.make_splits(labels, 100, 1000, seed=3)
  assert np.array_equal(np.bincount(labels[s.labelled], minlength=10), np.full(10, 10))
  assert not set(s.labelled) & set(s.validation)
  assert np.array_equal(np.sort(np.concatenate([s.labelled, s.unlabelled])), np.arange(4000))
  assert np.array_equal(s.validation, np.arange(4000, 5000))
  assert np.array_equal(splits.make_splits(labels, 100, 1000, seed=3).labelled, s.labelled)
  assert not np.array_equal(splits.make_splits(labels, 100, 1000, seed=4).labelled, s.labelled)
  all_labelled = splits.make_splits(labels, 0, 1000, seed=3)
  assert len(all_labelled.labelled) == 4000 and len(all_labelled.unlabelled) == 0


def test_cycling_batches_read_each_pass_in_a_new_order_as_a_function_of_the_step():
  key, n, b = jax.random.key(0), 10, 4
  batches = np.asarray(datasets.cycling_batches(key, 0, 5, n, b))  # 2 passes
  assert batches.shape == (5, b)
  first, second = batches.ravel()[:n], batches.ravel()[n:2 * n]
  assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
  assert not np.array_equal(first, second)
  for start in (1, 2, 3):  # An epoch starting at any step draws the same rows.
    np.testing.assert_array_equal(datasets.cycling_batches(key, start, 5 - start, n, b),
                                  batches[start:])
  many = np.asarray(datasets.cycling_batches(key, 7, 40, n, b))  # Positions 28-187: passes 2-18.
  np.testing.assert_array_equal(many[:3], datasets.cycling_batches(key, 7, 3, n, b))
  positions = 7 * b + np.arange(40 * b)
  for p in np.unique(positions // n):
    np.testing.assert_array_equal(
        many.ravel()[positions // n == p],
        np.asarray(jax.random.permutation(jax.random.fold_in(key, p), n))[
            positions[positions // n == p] % n])


def test_classifier_metrics_against_their_definitions():
  probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
  labels = np.array([0, 1, 1, 0])
  assert classifiers.error_rate(probs, labels) == 0.5
  # Bins (15 over [0, 1]): 0.9 -> bin 13 (acc 1), 0.6 -> 9 (acc 0), 0.7 -> 10 (acc 1),
  # 0.55 -> 8 (acc 0): ECE = (0.1 + 0.6 + 0.3 + 0.55) / 4.
  np.testing.assert_allclose(classifiers.expected_calibration_error(probs, labels),
                             (0.1 + 0.6 + 0.3 + 0.55) / 4)


@pytest.fixture(scope='module')
def m2_run(small_mnist, tmp_path_factory):
  workdir = tmp_path_factory.mktemp('m2')
  config = small_config(small_mnist, num_epochs=8, eval_every_epochs=4,
                        checkpoint_every_epochs=4)
  return config, workdir, train_m2.train_and_evaluate(config, str(workdir))


def test_m2_records_its_run(m2_run):
  config, workdir, results = m2_run
  dataset = datasets.load(config.dataset, config.data_dir)
  s = splits.make_splits(dataset.train_labels, 100, 500, 0)
  assert results['test_error_at_best_validation'] < 0.5  # Chance: 0.9.
  assert np.isfinite(results['nll']) and 0 <= results['test_ece'] <= 1
  labelled = json.loads((workdir / train_m2.LABELLED_FILE).read_text())['labelled']
  assert labelled == s.labelled.tolist()
  assert sorted(p.name.split('_')[0] for p in (workdir / 'pictures').glob('*_112.png')) == [
      'analogies', 'class']


@pytest.mark.heavy
def test_m2_beats_its_classifier_trained_on_the_labels_alone(tmp_path):
  """One epoch over MNIST's 49,900 unlabelled images and 100 labelled ones (seed 0), 100
  hidden units: 22.92% test error, below the same classifier network fitted to the 100
  labelled images (24.41% after the 500 steps here). At 300 units: 22.82 against 25.05, a
  quarter slower."""
  config = semi_supervised.get_config()
  config.update(hidden_units=100, num_epochs=1, learning_rate=1e-3, eval_num_samples=1,
                eval_every_epochs=0)
  results = train_m2.train_and_evaluate(config, str(tmp_path))
  dataset = datasets.load('mnist')
  s = splits.make_splits(dataset.train_labels, 100, 10000, 0)
  x, y = dataset.train_images / 255.0, dataset.train_labels
  baseline = classifiers.fit(x[s.labelled], y[s.labelled], x[s.validation], y[s.validation],
                             jax.random.key(0), hiddens=((100,),), steps=500)
  baseline_error = classifiers.error_rate(baseline.logits(dataset.test_images / 255.0),
                                          dataset.test_labels)
  assert results['test_error'] < baseline_error - 0.01


def test_load_classifies_and_samples_by_class(m2_run):
  import vaejax
  config, workdir, results = m2_run
  run = vaejax.load(workdir)
  dataset = datasets.load(config.dataset, config.data_dir)
  x = dataset.test_images / 255.0
  assert run.class_probs(x[:5]).shape == (5, 10)
  np.testing.assert_allclose(run.class_probs(x[:5]).sum(axis=1), 1, rtol=1e-5)
  error = np.mean(run.classify(x) != dataset.test_labels)
  assert error == pytest.approx(results['test_error_at_best_validation'])
  assert run.sample(jax.random.key(0), 3, labels=[0, 1, 2]).shape == (3, 784)
  log_px = run.log_likelihood(dataset.test_images[:4], jax.random.key(1), num_samples=3)
  assert log_px.shape == (4,) and np.all(np.isfinite(log_px)) and np.all(log_px < 0)
  for what in ('encode', 'decode', 'mean'):  # An M2 run has no unconditional encoder.
    with pytest.raises(UserError, match=f'{what} is for unsupervised'):
      getattr(run, what)(np.zeros((1, 784 if what == 'encode' else 8)))


@pytest.mark.parametrize('overrides, message', [
    ({'num_labels': 105}, 'multiple of the 10 classes'),
    ({'num_labels': 2000}, 'larger than the 1500 training images'),
    ({'objective': 'piwae'}, 'not for M2'),
    ({'architecture': 'm1m2'}, 'needs config.m1_workdir'),
])
def test_bad_semi_supervised_configs(small_mnist, tmp_path, overrides, message):
  with pytest.raises(UserError, match=message):
    train_m2.train_and_evaluate(small_config(small_mnist, **overrides), str(tmp_path))


def test_dataset_without_labels_is_refused():
  with pytest.raises(UserError, match='needs a dataset with labels'):
    splits.make_splits(np.full(100, -1), 10, 10, 0)


def test_classify_on_an_unsupervised_run_is_refused(trained_run):
  import vaejax
  workdir, _ = trained_run
  with pytest.raises(UserError, match='needs a semi-supervised'):
    vaejax.load(workdir).classify(np.zeros((1, 784)))


def _old_layout(params):
  """M2's parameters as runs from before kept them: the decoder's log scale at the top."""
  decoder = {k: v for k, v in params['decoder'].items() if k != 'log_scale'}
  return {**params, 'decoder': decoder, 'log_scale': params['decoder']['log_scale']}


@pytest.mark.heavy
def test_m2_run_from_before_the_decoders_log_scale_moved_resumes_and_loads(small_mnist,
                                                                           tmp_path):
  """A run whose checkpoint and best parameters keep params['log_scale'] (as the M2 runs
  written before it moved to params['decoder']['log_scale']) loads, and resumes to the
  uninterrupted run's records, results and parameters, with no manual step."""
  import vaejax
  config = small_config(small_mnist, likelihood='gaussian', hidden_units=32, latent_dim=4,
                        eval_num_samples=2)
  reference = tmp_path / 'reference'
  expected = train_m2.train_and_evaluate(config, str(reference))
  old = tmp_path / 'old'
  shutil.copytree(reference, old)
  (old / runs.RESULTS_FILE).unlink()
  checkpoints = runs.Checkpoints(old)
  first = checkpoints.all_steps()[0]
  state = checkpoints.restore(first, None)
  opt_state = [{**s, 'mu': _old_layout(s['mu']), 'nu': _old_layout(s['nu'])}
               if isinstance(s, dict) and 'mu' in s else s for s in state['opt_state']]
  checkpoints.discard_after(None)
  checkpoints.save(first, {**state, 'params': _old_layout(state['params']),
                           'opt_state': opt_state})
  assert 'log_scale' in checkpoints._manager.item_metadata(first).tree['params']
  checkpoints.close()
  best = flax.serialization.msgpack_restore((old / train_m2.BEST_FILE).read_bytes())
  (old / train_m2.BEST_FILE).write_bytes(flax.serialization.msgpack_serialize(
      {**best, 'params': _old_layout(best['params'])}))

  as_tree = lambda run: jax.tree.map(np.asarray, run.params)
  last = vaejax.load(old, params='last')
  assert last.step == first and 'log_scale' in last.params['decoder']
  jax.tree.map(np.testing.assert_array_equal, as_tree(last), jax.tree.map(
      np.asarray, runs.restore(reference, first).params))
  jax.tree.map(np.testing.assert_array_equal, as_tree(vaejax.load(old)),
               as_tree(vaejax.load(reference)))
  x = datasets.load(config.dataset, config.data_dir).test_images[:3]
  np.testing.assert_array_equal(last.log_likelihood(x, jax.random.key(0), num_samples=4),
                                vaejax.load(reference, step=first).log_likelihood(
                                    x, jax.random.key(0), num_samples=4))

  results = train_m2.train_and_evaluate(config, str(old))
  untimed = lambda r: {k: v for k, v in r.items() if k != 'train_seconds'}
  assert untimed(results) == untimed(expected)
  assert (old / runs.METRICS_FILE).read_text() == (reference / runs.METRICS_FILE).read_text()
  jax.tree.map(np.testing.assert_array_equal, as_tree(runs.restore(old)),
               as_tree(runs.restore(reference)))
