"""Importance-sampled log-likelihood (memory bounded), bits per dimension, bounds, KL and
active units."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from vaejax.models.vae import VAE, Params

ACTIVE_UNIT_THRESHOLD = 0.01


def _example_stats(model: VAE, params: Params, x: jax.Array, key: jax.Array,
                   num_samples: int, chunk_size: int) -> dict[str, jax.Array]:
  """Estimates for one example from num_samples draws, chunk_size at a time.

  A running logsumexp over the chunks keeps memory at one chunk whatever num_samples is.
  Sample j is drawn with fold_in(key, j), so the draws depend on neither chunk_size nor how
  examples are batched.
  """
  num_chunks = -(-num_samples // chunk_size)
  sample_terms = jax.vmap(model.log_weight_terms, in_axes=(None, None, 0))

  def add_chunk(carry, chunk):
    lse, sums = carry
    sample_ids = chunk * chunk_size + jnp.arange(chunk_size)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, sample_ids)
    terms = sample_terms(params, x, keys)
    logw = terms['log_px_given_z'] + terms['log_pz'] - terms['log_qz']
    valid = sample_ids < num_samples
    lse = jnp.logaddexp(lse, jax.nn.logsumexp(jnp.where(valid, logw, -jnp.inf)))
    per_sample = jnp.stack([logw, terms['log_qz'] - terms['log_pz'], terms['log_px_given_z']])
    sums = sums + jnp.sum(jnp.where(valid, per_sample, 0.0), axis=1)
    return (lse, sums), None

  init = (jnp.array(-jnp.inf, jnp.float32), jnp.zeros(3, jnp.float32))
  (lse, sums), _ = jax.lax.scan(add_chunk, init, jnp.arange(num_chunks))
  means = sums / num_samples
  return {'log_px': lse - math.log(num_samples), 'elbo': means[0], 'kl': means[1],
          'log_px_given_z': means[2]}


def logmeanexp_in_chunks(log_weights, key: jax.Array, num_samples: int,
                         chunk_size: int) -> jax.Array:
  """log (1/N) sum_j exp(log_weights(keys)[j]) over N = num_samples draws, chunk_size at a
  time (a running logsumexp: memory of one chunk whatever N is).

  log_weights maps keys [c] to log weights [c, ...]; sample j's key is fold_in(key, j), so
  the result does not depend on chunk_size (up to float rounding).
  """
  chunk_size = min(chunk_size, num_samples)

  def add_chunk(lse, chunk):
    sample_ids = chunk * chunk_size + jnp.arange(chunk_size)
    logw = log_weights(jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, sample_ids))
    valid = (sample_ids < num_samples).reshape((-1,) + (1,) * (logw.ndim - 1))
    return jnp.logaddexp(lse, jax.nn.logsumexp(jnp.where(valid, logw, -jnp.inf), axis=0)), None

  init = jnp.full(jax.eval_shape(log_weights, key[None]).shape[1:], -jnp.inf, jnp.float32)
  lse, _ = jax.lax.scan(add_chunk, init, jnp.arange(-(-num_samples // chunk_size)))
  return lse - math.log(num_samples)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _batch_stats(model, params, x_B, keys_B, num_samples, chunk_size):
  return jax.vmap(_example_stats, in_axes=(None, None, 0, 0, None, None))(
      model, params, x_B, keys_B, num_samples, chunk_size)


def importance_sample(model: VAE, params: Params, x: jax.Array, key: jax.Array,
                      num_samples: int, batch_size: int = 100,
                      chunk_size: int = 100) -> dict[str, np.ndarray]:
  """Per-example estimates from num_samples importance samples, for x [N, D] as the model's
  likelihood prepares them.

  Returns:
    Arrays [N]: 'log_px', the importance-sampled log p(x) (the IWAE bound with num_samples
    samples); 'elbo', the mean log weight; 'kl', the mean of log q(z|x) - log p(z);
    'log_px_given_z', the mean reconstruction log-likelihood. Sample j of example i is drawn
    with fold_in(fold_in(key, i), j), so the estimates do not depend on batch_size or
    chunk_size (up to float rounding).
  """
  n = x.shape[0]
  chunk_size = min(chunk_size, num_samples)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
  padded = -(-n // batch_size) * batch_size
  x = jnp.pad(jnp.asarray(x, jnp.float32), ((0, padded - n), (0, 0)))
  keys = jnp.concatenate([keys, jnp.repeat(keys[:1], padded - n, axis=0)])
  parts = [_batch_stats(model, params, x[i:i + batch_size], keys[i:i + batch_size],
                        num_samples, chunk_size) for i in range(0, padded, batch_size)]
  return {k: np.concatenate([np.asarray(p[k]) for p in parts])[:n] for k in parts[0]}


@functools.partial(jax.jit, static_argnums=(0, 4))
def posterior_means(model: VAE, params: Params, x: jax.Array, key: jax.Array,
                    num_samples: int = 100) -> list[jax.Array]:
  """E_q[z_l | x] for every layer l, [N, d_l] each (layers above the first by Monte Carlo)."""
  def one(x, key):
    draws = jax.vmap(lambda k: model.sample_posterior(params, x, k)[1])(
        jax.random.split(key, num_samples))
    return [jnp.mean(m, axis=0) for m in draws]
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(x.shape[0]))
  return jax.vmap(one)(x, keys)


def active_units(model: VAE, params: Params, x: jax.Array, key: jax.Array) -> list[int]:
  """Units u with Var_x(E_q[z_u | x]) > 0.01, counted per stochastic layer (z_1 first)."""
  means = posterior_means(model, params, x, key)
  return [int(np.sum(np.var(np.asarray(m), axis=0) > ACTIVE_UNIT_THRESHOLD)) for m in means]


def bits_per_dim(nll: float, num_dims: int) -> float:
  """-log p(x) in nats as bits per dimension: nll / (D ln 2)."""
  return nll / (num_dims * math.log(2))


def _prepared(model: VAE, images: np.ndarray, eval_key: jax.Array):
  """The images as the likelihood prepares them, and the keys of evaluate's three estimates."""
  prepare_key, *keys = jax.random.split(eval_key, 4)
  return model.likelihood.prepare(prepare_key, jnp.asarray(images)), keys


def per_example(model: VAE, params: Params, images: np.ndarray, eval_key: jax.Array,
                num_samples: int, batch_size: int = 100,
                chunk_size: int = 100) -> dict[str, np.ndarray]:
  """importance_sample's per-example arrays for uint8 images [N, D], drawn exactly as
  evaluate draws them: with the run's eval key, evaluate's nll is -mean(log_px)."""
  x, (ll_key, _, _) = _prepared(model, images, eval_key)
  return importance_sample(model, params, x, ll_key, num_samples, batch_size, chunk_size)


def evaluate(model: VAE, params: Params, images: np.ndarray, eval_key: jax.Array,
             num_samples: int, train_num_samples: int, batch_size: int = 100,
             chunk_size: int = 100) -> dict:
  """Test metrics of a model on uint8 images [N, D], prepared once per run by its likelihood
  (binarized for Bernoulli, dequantized for Gaussian).

  Returns:
    nll: -mean log p(x) in nats, importance-sampled with num_samples; bits_per_dim: nll /
    (D ln 2); elbo and iwae_k: the ELBO and the IWAE bound at the training K; kl and
    log_px_given_z (the two ELBO terms); active_units (total) and active_units_per_layer.
  """
  x, (ll_key, bound_key, units_key) = _prepared(model, images, eval_key)
  stats = importance_sample(model, params, x, ll_key, num_samples, batch_size, chunk_size)
  bound = importance_sample(model, params, x, bound_key, train_num_samples, batch_size,
                            chunk_size)
  units = active_units(model, params, x, units_key)
  nll = float(-np.mean(stats['log_px']))
  return {
      'nll': nll,
      'bits_per_dim': bits_per_dim(nll, model.num_inputs),
      'elbo': float(np.mean(stats['elbo'])),
      'iwae_k': float(np.mean(bound['log_px'])),
      'kl': float(np.mean(stats['kl'])),
      'log_px_given_z': float(np.mean(stats['log_px_given_z'])),
      'active_units': sum(units),
      'active_units_per_layer': units,
  }
