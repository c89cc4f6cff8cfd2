"""M2's loss weightings, M1 features, M1 + M2's saved feature map and fresh draws, M2's log
p(x) against quadrature, and the semi-supervised bad inputs."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vaejax
from vaejax import runs
from vaejax.bounds import objectives
from vaejax.configs import semi_supervised
from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.logpx import quadrature
from vaejax.models import likelihoods
from vaejax.models import vae
from vaejax.models.m2 import M2
from vaejax.semisupervised import features
from vaejax.training import train_m2
from test_semisupervised import small_config


def _tiny_m2():
  model = M2(3, 4, (16,), 12)
  params = model.init(jax.random.key(0), jnp.full(12, 0.3))
  x = jax.random.bernoulli(jax.random.key(1), 0.4, (5, 12)).astype(jnp.float32)
  grey = jax.random.uniform(jax.random.key(2), (5, 12))
  return model, params, x, grey


@pytest.mark.parametrize('weighting', train_m2.WEIGHTINGS)
def test_loss_weights_the_two_parts_as_the_formula_says(weighting):
  """3 unlabelled and 2 labelled images, w = 7, ELBO with K = 2; q(y | x) sees other inputs
  (grey levels) than the bounds: each term computed alone and weighted by hand."""
  model, params, x, grey = _tiny_m2()
  objective = objectives.make_objective('vae', 2)
  y_l, w, key = jnp.array([0, 2]), 7.0, jax.random.key(3)
  loss = train_m2.loss_fn(model, objective, w, weighting, params, (x[:3], grey[:3]),
                                (x[3:], grey[3:]), y_l, key)
  key_u, key_l = jax.random.split(key)
  log_q_u = jax.nn.log_softmax(jax.vmap(model.class_logits, in_axes=(None, 0))(params,
                                                                               grey[:3]))
  u = []
  for i, k in enumerate(jax.random.split(key_u, 3)):
    bounds = jnp.stack([model.labelled_bound(params, x[i], y, k, objectives.elbo, 2)
                        for y in range(3)])
    u.append(jnp.sum(jnp.exp(log_q_u[i]) * (bounds - log_q_u[i])))
  labelled = [model.labelled_bound(params, x[3 + j], y_l[j], k, objectives.elbo, 2)
              for j, k in enumerate(jax.random.split(key_l, 2))]
  ce = [-jax.nn.log_softmax(model.class_logits(params, grey[3 + j]))[y_l[j]] for j in range(2)]
  u, labelled, ce = (np.asarray(jnp.stack(a), np.float64) for a in (u, labelled, ce))
  if weighting == 'parts':
    expected = -u.mean() - labelled.mean() + w * ce.mean()
  else:
    expected = (-u.sum() + (w * ce - labelled).sum()) / 5
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


# Golden values of loss_fn above (seed-fixed tiny M2), from the code that measured the
# README's semi-supervised figures: any change to M2's bounds or to the weightings moves them.
GOLDEN_LOSSES = {'parts': 39.372105, 'images': 17.979816}


@pytest.mark.parametrize('weighting', train_m2.WEIGHTINGS)
def test_golden_m2_loss(weighting):
  model, params, x, grey = _tiny_m2()
  loss = train_m2.loss_fn(model, objectives.make_objective('iwae', 3), 7.0, weighting,
                                params, (x[:3], x[:3]), (x[3:], x[3:]), jnp.array([1, 2]),
                                jax.random.key(4))
  np.testing.assert_allclose(loss, GOLDEN_LOSSES[weighting], rtol=1e-5)


def test_unlabelled_images_labels_never_reach_training(small_mnist, tmp_path, monkeypatch):
  """Two whole runs, the second on loaded data whose unlabelled images' labels are permuted
  (the labelled draw kept: choosing a balanced subset needs every label, as any
  semi-supervised benchmark's does): the same records and parameters, bit for bit."""
  config = small_config(small_mnist, num_epochs=1)
  train_m2.train_and_evaluate(config, str(tmp_path / 'true'))
  load, make_splits = datasets.load, train_m2.splits_lib.make_splits
  true_labels = load(config.dataset, config.data_dir).train_labels
  s = make_splits(true_labels, config.num_labels, config.num_validation, config.seed)
  permuted = true_labels.copy()
  permuted[s.unlabelled] = np.random.default_rng(0).permutation(permuted[s.unlabelled])
  assert (permuted != true_labels).mean() > 0.5
  monkeypatch.setattr(train_m2.datasets, 'load',
                      lambda *a, **k: load(*a, **k)._replace(train_labels=permuted))
  monkeypatch.setattr(train_m2.splits_lib, 'make_splits', lambda *a: s)
  train_m2.train_and_evaluate(config, str(tmp_path / 'permuted'))
  monkeypatch.undo()
  assert ((tmp_path / 'true' / runs.METRICS_FILE).read_bytes()
          == (tmp_path / 'permuted' / runs.METRICS_FILE).read_bytes())
  jax.tree.map(np.testing.assert_array_equal,
               vaejax.load(tmp_path / 'true', params='last').params,
               vaejax.load(tmp_path / 'permuted', params='last').params)


def test_load_gives_the_best_validation_parameters(small_mnist, tmp_path):
  """The results' test error at the least validation error is what vaejax.load classifies
  with; params='last' gives the last checkpoint's."""
  config = small_config(small_mnist, num_epochs=3)
  results = train_m2.train_and_evaluate(config, str(tmp_path))
  dataset = datasets.load(config.dataset, config.data_dir)
  best = vaejax.load(tmp_path)
  assert best.step == results['best_step']
  error = np.mean(best.classify(dataset.test_images / 255.0) != dataset.test_labels)
  assert error == pytest.approx(results['test_error_at_best_validation'])
  last = vaejax.load(tmp_path, params='last')
  assert last.step == 3 * 14
  error = np.mean(last.classify(dataset.test_images / 255.0) != dataset.test_labels)
  assert error == pytest.approx(results['test_error'])


def _tiny_vae():
  model = vae.make_model('one_layer', 3, (2, 2, 1), hidden=(5,), activation='softplus')
  params = model.init(jax.random.key(0), jnp.full(4, 0.4))
  encoder = params['encoder']['z1']
  encoder['Dense_0']['kernel'] *= 4  # Means that vary by more than 0.1,
  encoder['Dense_1']['kernel'] = encoder['Dense_1']['kernel'].at[:, 3:].multiply(0.1)  # std ~ 1.
  return model, params


def _encoder_by_hand(params, x):
  net = params['encoder']['z1']
  h = np.logaddexp(0, x @ net['Dense_0']['kernel'] + net['Dense_0']['bias'])
  out = h @ net['Dense_1']['kernel'] + net['Dense_1']['bias']
  return out[..., :3], np.exp(out[..., 3:])


def test_standardized_features_against_a_hand_computation():
  model, params = _tiny_vae()
  grey = np.asarray(jax.random.uniform(jax.random.key(1), (50, 4)))
  feature_map = features.make_feature_map(model, params, grey, np.arange(50),
                                          jax.random.key(2))
  mean, std = _encoder_by_hand(jax.device_get(params), grey.astype(np.float64))
  units = np.flatnonzero(mean.var(axis=0) > 0.01)
  assert 0 < units.size
  shift, scale = mean[:, units].mean(0), mean[:, units].std(0)
  got_mean, got_std = feature_map.moments(grey)
  np.testing.assert_allclose(got_mean, (mean[:, units] - shift) / scale, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got_std, std[:, units] / scale, rtol=1e-4)
  released = features.make_feature_map(model, params, grey, np.arange(10, 50),
                                       jax.random.key(2), scaling='released')
  released_units = np.flatnonzero(mean[10:].std(axis=0) > 0.1)
  np.testing.assert_array_equal(released.units, released_units)
  np.testing.assert_allclose(released(grey), mean[:, released_units], rtol=1e-4, atol=1e-6)


def test_encoder_hidden_layer_against_a_hand_computation():
  """The last hidden layer of a two-hidden-layer encoder, and a one-line error for a conv
  encoder."""
  model = vae.make_model('one_layer', 3, (2, 2, 1), hidden=(5, 6), activation='softplus')
  params = jax.device_get(model.init(jax.random.key(0), jnp.full(4, 0.4)))
  grey = np.asarray(jax.random.uniform(jax.random.key(1), (1500, 4)))
  net = params['encoder']['z1']
  h = grey.astype(np.float64)
  for layer in ('Dense_0', 'Dense_1'):
    h = np.logaddexp(0, h @ net[layer]['kernel'] + net[layer]['bias'])
  got = features.encoder_hidden(model, params, grey)
  assert got.shape == (1500, 6)  # Two batches of features.BATCH.
  np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-6)
  conv = vae.make_model('conv', 3, (28, 28, 1))
  with pytest.raises(UserError, match='needs an MLP encoder'):
    features.encoder_hidden(conv, conv.init(jax.random.key(0), jnp.full(784, 0.4)),
                            np.zeros((1, 784)))


def test_features_over_binarizations_are_the_mixture_moments():
  """q's moments averaged over binarizations against the exact mixture over all 16 binary
  images of 4 pixels, within 5 standard errors of the 4000 draws."""
  model, params = _tiny_vae()
  grey = np.array([[0.1, 0.5, 0.8, 0.3], [0.9, 0.2, 0.6, 0.5]])
  draws = 4000
  mean, std = features.posterior_moments(model, params, grey, jax.random.key(3),
                                         binarizations=draws)
  images = np.array([[(b >> j) & 1 for j in range(4)] for b in range(16)], np.float64)
  b_mean, b_std = _encoder_by_hand(jax.device_get(params), images)
  for i, g in enumerate(grey):
    p = np.prod(np.where(images == 1, g, 1 - g), axis=1)
    exact_mean = p @ b_mean
    exact_var = p @ (b_std**2 + b_mean**2) - exact_mean**2
    stderr = np.sqrt((p @ b_mean**2 - exact_mean**2) / draws)
    assert np.all(np.abs(mean[i] - exact_mean) < 5 * stderr + 1e-6)
    np.testing.assert_allclose(std[i]**2, exact_var, rtol=0.05)


def test_m1m2_keeps_its_feature_map_when_the_m1_run_changes(trained_run, small_mnist, tmp_path):
  """The M2 run saved M1's feature map: with the M1 run deleted it loads, resumes and
  classifies exactly as before."""
  m1 = tmp_path / 'm1'
  shutil.copytree(trained_run[0], m1)
  config = small_config(small_mnist, architecture='m1m2', m1_workdir=str(m1), num_epochs=1)
  results = train_m2.train_and_evaluate(config, str(tmp_path / 'm1m2'))
  dataset = datasets.load(config.dataset, config.data_dir)
  before = vaejax.load(tmp_path / 'm1m2').class_probs(dataset.test_images / 255.0)
  shutil.rmtree(m1)
  after = vaejax.load(tmp_path / 'm1m2').class_probs(dataset.test_images / 255.0)
  np.testing.assert_array_equal(before, after)
  assert np.mean(np.argmax(after, 1) != dataset.test_labels) == pytest.approx(
      results['test_error_at_best_validation'])
  _, m1_step = train_m2.read_feature_map(str(tmp_path / 'm1m2'))
  assert m1_step == json.loads((trained_run[0] / runs.RESULTS_FILE).read_text())['step']


def test_m1m2_trains_on_fresh_draws_of_z1():
  """M1 + M2's inputs are q(z1 | x)'s mean and std; each step draws mean + std * eps."""
  model = M2(10, 2, (8,), 3, likelihoods.Normal())
  config = semi_supervised.get_config()
  config.architecture = 'm1m2'
  prepare = train_m2.make_prepare(model, config)
  raw = jnp.stack([jnp.full((20000, 3), 2.0), jnp.full((20000, 3), 0.5)], axis=1)
  x, seen = prepare(jax.random.key(0), raw)
  np.testing.assert_array_equal(x, seen)
  np.testing.assert_allclose(x.mean(0), 2.0, atol=5 * 0.5 / np.sqrt(20000))
  np.testing.assert_allclose(x.std(0), 0.5, rtol=0.03)
  assert not np.array_equal(x, prepare(jax.random.key(1), raw)[0])


def test_m2_log_likelihood_matches_quadrature_over_classes():
  """A 2-D-latent M2 with a sharpened decoder: log p(x) = logsumexp_y [log p(y) + log of
  the integral of p(x | y, z) p(z)], the integral by quadrature, against 20,000 importance
  samples: within 0.15 nats for each image and 0.05 on average (measured: -0.11, -0.006,
  -0.023, -0.017; the untrained encoder is a poor proposal for the first image), while
  dropping log p(y) would move it by log 3 = 1.1; one sample is 0.3 or more below it."""
  model = M2(3, 2, (16,), 20)
  params = model.init(jax.random.key(0), jnp.full(20, 0.3))
  params['decoder']['MLP_0']['Dense_0']['kernel'] *= 1.5
  x = jax.random.bernoulli(jax.random.key(1), 0.3, (4, 20)).astype(jnp.float32)
  per_class = []
  for y in range(3):
    def log_joint(x, z, y=y):
      return (model.likelihood.log_prob(x, model.decode(params, z, y), None)
              + jnp.sum(-0.5 * z**2 - 0.5 * np.log(2 * np.pi)))
    per_class.append(quadrature.log_marginal(log_joint, x, 6.0, 600))
  exact = np.asarray(jax.nn.logsumexp(jnp.stack(per_class), axis=0) - np.log(3))
  images = np.asarray(x * 255, np.uint8)  # Binarized as they are.
  estimate = lambda k: train_m2.log_likelihood(model, params, images,
                                                     jax.random.key(2), k, chunk_size=1000)
  gaps = estimate(20000) - exact
  assert np.all(np.abs(gaps) < 0.15) and np.mean(np.abs(gaps)) < 0.05
  assert np.mean(estimate(1) - exact) < -0.3


@pytest.mark.parametrize('overrides, message', [
    ({'labelled_batch_size': 150}, 'labelled_batch_size 150 is larger than the 100 labelled'),
    ({'shuffle': False}, 'does not use shuffle'),
    ({'train_examples': 1000}, 'does not use train_examples'),
    ({'schedule': 'linear'}, 'unknown schedule'),
    ({'weighting': 'labels'}, 'unknown weighting'),
    ({'classifier_input': 'colour'}, 'unknown classifier_input'),
    ({'likelihood': 'bernoulli_grey'}, "never binarizes the images.*classifier_input='grey'"),
    ({'architecture': 'm1m2', 'm1_workdir': '/nonexistent/run'}, 'holds no run'),
])
def test_bad_semi_supervised_settings(small_mnist, tmp_path, overrides, message):
  with pytest.raises(UserError, match=message):
    train_m2.train_and_evaluate(small_config(small_mnist, **overrides), str(tmp_path))


def test_m1_run_without_active_units_is_refused(trained_run, small_mnist, tmp_path,
                                                monkeypatch):
  monkeypatch.setattr(features.importance, 'ACTIVE_UNIT_THRESHOLD', 1e9)
  config = small_config(small_mnist, architecture='m1m2', m1_workdir=str(trained_run[0]))
  with pytest.raises(UserError, match='no active latent units'):
    train_m2.train_and_evaluate(config, str(tmp_path))
