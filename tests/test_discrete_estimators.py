"""The estimators without reparameterization (vaejax/bounds/estimators.py) against exact answers.

On the enumerable sigmoid belief net (tests/enumerable.py: 64 latent configurations) the
exact gradient of E[bound] is a sum over all K-tuples; score, NVIL and VIMCO must be unbiased
for it, each parameter's mean over the draws within 4.5 standard errors (about 70 parameters:
a false alarm has probability under 1e-3), while straight-through, a biased estimator, must
fail the same test. RWS's wake and sleep updates are checked draw by draw against their
definitions and in expectation against the enumerated gradients of the KLs they descend.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.bounds import diagnostics
from vaejax.bounds import estimators
from vaejax.bounds import objectives
from vaejax.errors import UserError
from vaejax.models import vae
from vaejax.training import train
from tests import enumerable
from tests.conftest import tiny_config

MODEL, X = enumerable.SBN, enumerable.X


def _flat(tree):
  return jnp.concatenate([leaf.reshape(leaf.shape[0], -1) for leaf in jax.tree.leaves(tree)],
                         axis=1)


def _params(objective, state=None):
  p = enumerable.params(MODEL)
  initial = estimators.init_state(objective, jax.random.key(7), MODEL.num_inputs)
  if initial is not None:
    p['estimator'] = {**initial, **(state or {})}
  return p


def _draws(objective, p, num_draws, seed=1):
  draws = diagnostics.gradient_draws(MODEL, objective, p, X, jax.random.key(seed), num_draws)
  return {part: np.asarray(_flat(draws[part])) for part in ('encoder', 'decoder')}


def _exact_grads(objective, p):
  """The gradient of -mean_b E[bound(x_b)] by enumeration, flattened per network."""
  grads = jax.grad(lambda q: -enumerable.expected_bound(objective, MODEL, q, X))(
      {'encoder': p['encoder'], 'decoder': p['decoder']})
  return {part: np.asarray(_flat(jax.tree.map(lambda g: g[None], grads[part])))[0]
          for part in grads}


def _z_scores(draws, exact):
  stderr = draws.std(axis=0) / np.sqrt(draws.shape[0])
  assert np.all(stderr > 0)
  return np.abs(draws.mean(axis=0) - exact) / stderr


CASES = [('score', 'vae', 1, None), ('score', 'iwae', 2, {'mean': jnp.array(-4.0)}),
         ('nvil', 'vae', 1, {'mean': jnp.array(-3.0)}), ('nvil', 'iwae', 2, None),
         ('vimco', 'iwae', 2, None)]


@pytest.mark.parametrize('estimator, name, k, state', CASES)
def test_score_function_estimators_are_unbiased_for_the_exact_gradient(estimator, name, k,
                                                                       state):
  objective = objectives.make_objective(name, k, estimator=estimator)
  p = _params(objective, state)
  draws = _draws(objective, p, 20000)
  exact = _exact_grads(objective, p)
  for part in ('encoder', 'decoder'):
    z = _z_scores(draws[part], exact[part])
    assert np.max(z) < 4.5, (part, z)


def test_nvil_divides_the_encoder_gradient_by_max_1_and_the_running_std():
  objective = objectives.make_objective('iwae', 2, estimator='nvil')
  p = _params(objective, {'var': jnp.array(9.0)})
  draws = _draws(objective, p, 20000)
  exact = _exact_grads(objective, p)
  assert np.max(_z_scores(3 * draws['encoder'], exact['encoder'])) < 4.5
  assert np.max(_z_scores(draws['decoder'], exact['decoder'])) < 4.5
  assert np.max(_z_scores(draws['encoder'], exact['encoder'])) > 10  # The test can fail.


def test_straight_through_is_biased():
  """The same test fails for a biased estimator: it can tell."""
  objective = objectives.make_objective('iwae', 2, estimator='straight_through',
                                        temperature=0.5, temperature_min=0.5)
  p = _params(objective)
  z = _z_scores(_draws(objective, p, 20000)['encoder'], _exact_grads(objective, p)['encoder'])
  assert np.max(z) > 10, z


def test_the_reparameterized_gradient_is_unavailable_for_discrete_latents():
  for estimator in objectives.REPARAMETERIZED:
    with pytest.raises(UserError, match=f"'{estimator}' needs reparameterizable"):
      estimators.check(objectives.make_objective('iwae', 2, estimator=estimator), MODEL,
                       'sbn_linear')


def test_vimco_leave_one_out_replaces_a_weight_by_the_geometric_mean_of_the_others():
  logw = jnp.array([0.5, -1.0, 2.0])
  expected = [np.log((np.exp(0.5) + np.exp(-1.0) + np.exp(2.0)) / 3),
              np.log((np.exp(0.5) + np.exp(1.25) + np.exp(2.0)) / 3),
              np.log((np.exp(0.5) + np.exp(-1.0) + np.exp(-0.25)) / 3)]
  np.testing.assert_allclose(estimators.leave_one_out(logw), expected, rtol=1e-6)


def _posterior_draws(p, key, k):
  """The zs and log weights the estimators draw for X with `key` (their key splitting)."""
  keys = jax.random.split(key, X.shape[0] + 1)[:X.shape[0]]
  def one(x, key):
    draw = lambda kk: MODEL.sample_posterior(p, x, kk)[0]
    return jax.vmap(draw)(jax.random.split(key, k))
  return jax.vmap(one)(X, keys)


def test_wake_update_is_the_self_normalized_estimate_of_grad_kl_posterior_q():
  objective = objectives.make_objective('iwae', 4, estimator='rws_wake')
  p, key = enumerable.params(MODEL), jax.random.key(8)
  grads = estimators.loss_grads_and_state(MODEL, objective, p, X, key)[1]
  zs = _posterior_draws(p, key, 4)
  log_q = lambda enc: jax.vmap(jax.vmap(lambda x, *z: MODEL.log_q({**p, 'encoder': enc}, x,
                                                                  list(z)),
                                        in_axes=(None, 0, 0)))(X, *zs)
  log_joint = jax.vmap(jax.vmap(lambda x, *z: sum(MODEL.log_joint_terms(p, x, list(z))),
                                in_axes=(None, 0, 0)))(X, *zs)
  w = jax.nn.softmax(log_joint - log_q(p['encoder']), axis=1)
  snis = jax.grad(lambda enc: -jnp.mean(jnp.sum(w * log_q(enc), axis=1)))(p['encoder'])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               grads['encoder'], snis)
  # In expectation, with many samples, it is the enumerated grad KL(p(z | x) || q(z | x)):
  # the self-normalized bias falls as 1/K; at K = 1000 each mean is within 4.5 standard
  # errors (200 draws) of the exact value.
  objective = objectives.make_objective('iwae', 1000, estimator='rws_wake')
  draws = _draws(objective, p, 200, seed=9)['encoder']
  exact = jax.grad(lambda enc: enumerable.kl_posterior_q(MODEL, p, X, enc))(p['encoder'])
  exact = np.asarray(_flat(jax.tree.map(lambda g: g[None], exact)))[0]
  assert np.max(_z_scores(draws, exact)) < 4.5


def test_snr_of_a_gradient_constant_over_the_draws_is_zero_not_one_over_rounding():
  """At K = 1 the wake update's weight is 1, so where a unit's draw never flips, a gradient
  is the same in every draw. The std of such float32 copies is rounding (1.2e-10 for 20
  copies of 0.000921, a value from the SBN run), which once gave ratios of 1e7 and an encoder
  SNR of 1673 on the SBN; a gradient that does vary keeps |mean| / std."""
  copies = jnp.tile(jnp.array([0.000921, 0.1, 0.7], jnp.float32), (20, 1))
  assert float(jnp.std(copies[:, 0])) > 0  # what the old check (std > 0) saw
  np.testing.assert_array_equal(diagnostics.snr(copies), 0.0)
  varying = jnp.array([[1.0, -1.0], [3.0, -1.5]])
  np.testing.assert_allclose(diagnostics.snr(varying), [2.0, 5.0], rtol=1e-6)


def test_norm_snr_is_the_noisy_parameters_ratio_whatever_one_nearly_constant_one_says():
  """Draws g = mu + sigma * eps over 100 parameters (mu 0.5, sigma 2): ||mu|| / (sigma
  sqrt(100)) = 0.25 within the 2% a sample of 4000 draws allows. One parameter that barely
  varies (std 1e-4 of its mean: not rounding) lifts the per-parameter mean above 50, as the
  RWS runs' wake updates do, and moves the norm ratio by about 1% only."""
  eps = jax.random.normal(jax.random.key(0), (4000, 100))
  draws = jnp.full((4000, 100), 0.5) + 2 * eps
  np.testing.assert_allclose(diagnostics.norm_snr(draws), 0.25, rtol=0.02)
  draws = draws.at[:, 0].set(1.0 + 1e-4 * eps[:, 0])
  assert float(jnp.mean(diagnostics.snr(draws))) > 50
  np.testing.assert_allclose(diagnostics.norm_snr(draws), 0.25, rtol=0.03)
  np.testing.assert_array_equal(diagnostics.norm_snr(jnp.ones((5, 3))), 0.0)


def test_sleep_update_is_grad_log_q_at_the_models_own_draws():
  objective = objectives.make_objective('iwae', 3, estimator='rws_sleep')
  p, key = enumerable.params(MODEL), jax.random.key(10)
  grads = estimators.loss_grads_and_state(MODEL, objective, p, X, key)[1]
  sleep_key = jax.random.split(key, X.shape[0] + 1)[-1]
  zs, xs = jax.vmap(MODEL.sample_joint, in_axes=(None, 0))(p, jax.random.split(sleep_key, 6))
  expected = jax.grad(lambda enc: -jnp.mean(jax.vmap(
      lambda x, *z: MODEL.log_q({**p, 'encoder': enc}, x, list(z)))(xs, *zs)))(p['encoder'])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               grads['encoder'], expected)
  # In expectation: the enumerated grad E_{p(x, z)}[-log q(z | x)] (16 x 64 pairs).
  draws = _draws(objective, p, 3000, seed=11)['encoder']
  exact = jax.grad(lambda enc: enumerable.expected_sleep_loss(MODEL, p, enc))(p['encoder'])
  exact = np.asarray(_flat(jax.tree.map(lambda g: g[None], exact)))[0]
  assert np.max(_z_scores(draws, exact)) < 4.5


def test_running_statistics_and_temperature_move_as_documented():
  objective = objectives.make_objective('iwae', 2, estimator='nvil')
  p = _params(objective, {'mean': jnp.array(-5.0), 'var': jnp.array(2.0)})
  _, grads, state = jax.jit(lambda p: estimators.loss_grads_and_state(
      MODEL, objective, p, X, jax.random.key(12)))(p)
  assert float(state['mean']) != -5.0 and float(state['var']) != 2.0
  assert all(np.all(g == 0) for g in (grads['estimator']['mean'], grads['estimator']['var']))
  assert any(np.any(g != 0) for g in jax.tree.leaves(grads['estimator']['net']))
  objective = objectives.make_objective('iwae', 2, estimator='concrete', temperature=1.0,
                                        temperature_min=0.5, temperature_decay=0.1)
  p = _params(objective)
  step_fn = jax.jit(lambda p, key: estimators.loss_grads_and_state(MODEL, objective, p, X, key))
  for step in range(8):
    _, _, state = step_fn(p, jax.random.key(step))
    np.testing.assert_allclose(state['temperature'], max(0.5, np.exp(-0.1 * (step + 1))),
                               rtol=1e-5)
    p['estimator'] = state


GAUSSIAN = vae.VAE((2,), ((4,),), ((4,),), image_shape=(2, 2, 1))


@pytest.mark.parametrize('estimator, name, k', [('score', 'vae', 1), ('score', 'iwae', 5),
                                                ('vimco', 'iwae', 5)])
def test_on_the_gaussian_vae_score_and_vimco_agree_with_reparam_and_vary_more(estimator, name,
                                                                              k):
  """Paired draws (the same z): the mean difference from the reparameterized encoder
  gradient is within 4.5 standard errors, and the total variance (the trace of the
  covariance) is larger."""
  p = GAUSSIAN.init(jax.random.key(0), jnp.full(4, 0.4))
  objective = objectives.make_objective(name, k, estimator=estimator)
  if estimator == 'score':
    p['estimator'] = {'mean': jnp.array(-3.0)}
  draws = lambda o, q: np.asarray(_flat(diagnostics.gradient_draws(
      GAUSSIAN, o, q, X, jax.random.key(2), 20000)['encoder']))
  reparam = draws(objectives.make_objective(name, k), {'encoder': p['encoder'],
                                                      'decoder': p['decoder']})
  other = draws(objective, p)
  diff = other - reparam
  z = np.abs(diff.mean(axis=0)) / (diff.std(axis=0) / np.sqrt(diff.shape[0]))
  assert np.max(z) < 4.5, z
  assert np.sum(other.var(axis=0)) > 2 * np.sum(reparam.var(axis=0))


@pytest.mark.parametrize('overrides, message', [
    ({'architecture': 'sbn_linear', 'gradient_estimator': 'reparam'},
     "'reparam' needs reparameterizable (Gaussian) latents; architecture 'sbn_linear' fits "
     'score, nvil, vimco, rws_wake, rws_sleep, concrete, straight_through'),
    ({'architecture': 'one_layer', 'gradient_estimator': 'concrete'},
     "'concrete' needs discrete latents; architecture 'one_layer' fits reparam, stl, dreg, "
     'score, nvil, vimco, rws_wake'),
    ({'architecture': 'one_layer', 'gradient_estimator': 'rws_sleep'},
     "'rws_sleep' needs samples of the model's p(x | z)"),
    ({'architecture': 'sbn_linear', 'gradient_estimator': 'vimco', 'num_samples': 1},
     "'vimco' needs K >= 2"),
    ({'architecture': 'sbn_linear', 'gradient_estimator': 'vimco', 'objective': 'vae'},
     "'vimco' is defined for the IWAE bound"),
    ({'architecture': 'categorical', 'likelihood': 'logistic'}, "likelihood must be 'bernoulli'"),
    ({'temperature_schedule': 'linear'}, "unknown temperature_schedule 'linear'"),
    ({'temperature': 0.0}, '0 < temperature_min <= temperature'),
])
def test_estimator_model_mismatch_is_one_line(overrides, message):
  with pytest.raises(UserError) as error:
    train.validate_config(tiny_config(**overrides))
  assert message in str(error.value) and '\n' not in str(error.value)


class _FixedDraws:
  """A q for tfp's csiszar_vimco: the given draws as its samples, log q from the encoder."""

  def __init__(self, draws, log_prob):
    self._draws, self.log_prob = draws, log_prob

  def sample(self, sample_shape, seed=None):
    del seed
    return jax.tree.map(lambda z: z.reshape(tuple(sample_shape) + z.shape[1:]), self._draws)


def test_vimco_matches_tfp_csiszar_vimco():
  """The encoder gradient of one example's VIMCO step against tfp.substrates.jax's VIMCO loss
  (f(log u) = -log u: the negative IWAE bound) on the same draws."""
  tfp = pytest.importorskip('tensorflow_probability.substrates.jax')
  k, key, x = 6, jax.random.key(13), X[:1]
  p = enumerable.params(MODEL)
  objective = objectives.make_objective('iwae', k, estimator='vimco')
  grads = estimators.loss_grads_and_state(MODEL, objective, p, x, key)[1]['encoder']
  zs = [z[0] for z in _posterior_draws(p, key, k)]  # X[0]'s draws are x[0]'s.

  def loss(encoder):
    q_params = {**p, 'encoder': encoder}
    log_q = lambda z: jax.vmap(jax.vmap(lambda *zl: MODEL.log_q(q_params, x[0], list(zl))))(*z)
    log_p = lambda *z: jax.vmap(jax.vmap(lambda *zl: sum(MODEL.log_joint_terms(p, x[0],
                                                                                list(zl)))))(*z)
    return tfp.vi.csiszar_vimco(lambda logu: -logu, log_p, _FixedDraws(tuple(zs), log_q), k,
                                seed=jax.random.PRNGKey(0))

  with jax.numpy_rank_promotion('allow'):  # tfp broadcasts ranks implicitly.
    expected = jax.grad(loss)(p['encoder'])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), grads,
               expected)
