"""Evaluation's per-example terms and active units against references, and its memory."""

import jax
import jax.numpy as jnp
import numpy as np

from vaejax.logpx import importance
from vaejax.models import vae


def _tiny():
  model = vae.VAE((3,), ((8,),), ((8,),), image_shape=(3, 3, 1))
  params = model.init(jax.random.key(0), jnp.full(9, 0.3))
  x = jax.random.bernoulli(jax.random.key(1), 0.3, (6, 9)).astype(jnp.float32)
  return model, params, x


def test_elbo_kl_and_reconstruction_against_their_definitions():
  model, params, x = _tiny()
  key = jax.random.key(2)
  got = importance.importance_sample(model, params, x, key, 7, batch_size=4, chunk_size=3)
  sample_keys = jax.vmap(lambda i: jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
      jax.random.fold_in(key, i), jnp.arange(7)))(jnp.arange(len(x)))
  t = jax.vmap(jax.vmap(model.log_weight_terms, in_axes=(None, None, 0)),
               in_axes=(None, 0, 0))(params, x, sample_keys)
  t = {name: np.asarray(v, np.float64) for name, v in t.items()}  # [N, 7] each.
  logw = t['log_px_given_z'] + t['log_pz'] - t['log_qz']
  check = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  check(got['elbo'], logw.mean(axis=1))
  check(got['kl'], (t['log_qz'] - t['log_pz']).mean(axis=1))
  check(got['log_px_given_z'], t['log_px_given_z'].mean(axis=1))
  check(got['log_px'], np.logaddexp.reduce(logw, axis=1) - np.log(7))


def test_active_units_against_the_variance_of_the_posterior_means():
  model, params, _ = _tiny()
  x = jax.random.bernoulli(jax.random.key(3), 0.3, (200, 9)).astype(jnp.float32)
  # Unit 0 varies with x, unit 1 barely, unit 2 not at all: scale the mean head's columns.
  kernel = params['encoder']['z1']['Dense_1']['kernel']
  kernel = kernel.at[:, 0].multiply(20.0).at[:, 1].multiply(0.01).at[:, 2].set(0.0)
  params['encoder']['z1']['Dense_1']['kernel'] = kernel
  means, _ = vae.encode_batch(model, params, x)
  variances = np.var(np.asarray(means), axis=0)
  assert variances[0] > 0.01 > variances[1]
  assert importance.active_units(model, params, x, jax.random.key(4)) == [
      int(np.sum(variances > 0.01))] == [1]


def test_memory_stays_bounded_as_the_number_of_samples_grows():
  """The compiled evaluation's temporary memory is (nearly) the same for 200 and 5000 samples
  drawn 100 at a time, and far below that of one 5000-sample chunk."""
  model, params, x = _tiny()
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(0), jnp.arange(6))
  temp = lambda k, chunk: importance._batch_stats.lower(  # pylint: disable=protected-access
      model, params, x, keys, k, chunk).compile().memory_analysis().temp_size_in_bytes
  assert temp(5000, 100) <= 1.05 * temp(200, 100)  # A few constants aside.
  assert temp(5000, 5000) > 10 * temp(5000, 100)
