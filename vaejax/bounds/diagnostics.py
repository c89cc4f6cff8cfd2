"""Gradient signal-to-noise ratios (Rainforth et al. 2018) and bounds at several K."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vaejax.bounds import gradients
from vaejax.bounds.objectives import Objective
from vaejax.logpx import importance
from vaejax.models.vae import Params

ROUNDING = 1e-5  # a std below this times |mean| is rounding, not variation


@functools.partial(jax.jit, static_argnums=(0, 1, 5))
def gradient_draws(model, objective: Objective, params: Params, x: jax.Array, key: jax.Array,
                   num_draws: int) -> Params:
  """num_draws independent gradient estimates on the fixed batch x, stacked on axis 0."""
  grad = lambda k: gradients.loss_and_grads(model, objective, params, x, k)[1]
  return jax.lax.map(grad, jax.random.split(key, num_draws), batch_size=min(num_draws, 10))


@jax.jit
def snr(draws: jax.Array) -> jax.Array:
  """Per-parameter |E[g]| / std[g] over axis 0, 0 where the draws do not vary.

  Draws that agree to rounding count as not varying: the std of identical float32 values
  is ~1e-7 |mean|, not 0, and would give ratios of 1e7. A score-function gradient is
  constant over the draws where its latent never flipped in them (the wake update at small
  K: its weights sum to 1).
  """
  mean, std = jnp.mean(draws, axis=0), jnp.std(draws, axis=0)
  varies = std > ROUNDING * jnp.abs(mean)
  return jnp.where(varies, jnp.abs(mean) / jnp.where(varies, std, 1.0), 0.0)


def gradient_snr(model, objective: Objective, params: Params, x: jax.Array, key: jax.Array,
                 num_draws: int = 100) -> dict[str, float]:
  """The encoder's and the decoder's gradient SNR on a fixed batch, two ways.

  `{part}_snr` is the per-parameter |E g| / std g averaged over the network's parameters
  (Rainforth et al. 2018); `{part}_snr_norm` is ||E g|| / sqrt(sum of Var g) over them, which a
  few parameters whose draws nearly agree cannot dominate (their per-parameter ratios can reach
  1e5: a wake-update gradient where a latent never flips in the draws).

  Args:
    model: the VAE.
    objective: objective and gradient estimator whose gradient is measured.
    params: model parameters.
    x: a fixed batch of images [B, D], as the likelihood prepares them.
    key: key of the draws.
    num_draws: gradient estimates to take the mean and std over.

  Returns:
    {'encoder_snr', 'decoder_snr', 'encoder_snr_norm', 'decoder_snr_norm'}.
  """
  draws = gradient_draws(model, objective, params, x, key, num_draws)
  result = {}
  for part in ('encoder', 'decoder'):
    flat = _flatten(draws[part])
    result[f'{part}_snr'] = float(jnp.mean(snr(flat)))
    result[f'{part}_snr_norm'] = float(norm_snr(flat))
  return result


@jax.jit
def _flatten(draws: Params) -> jax.Array:
  """Draws of a parameter tree as one array [num_draws, num_parameters]."""
  return jnp.concatenate([leaf.reshape(leaf.shape[0], -1) for leaf in jax.tree.leaves(draws)],
                         axis=1)


@jax.jit
def norm_snr(draws: jax.Array) -> jax.Array:
  """||E g|| / sqrt(sum_i Var g_i) of draws [num_draws, num_parameters] (0 if none vary)."""
  signal = jnp.sqrt(jnp.sum(jnp.square(jnp.mean(draws, axis=0))))
  noise = jnp.sqrt(jnp.sum(jnp.var(draws, axis=0)))
  return jnp.where(noise > 0, signal / jnp.where(noise > 0, noise, 1.0), 0.0)


def bound_vs_k(model, params: Params, x: jax.Array, key: jax.Array, ks=(1, 5, 50, 500, 5000),
               batch_size: int = 100, chunk_size: int = 100) -> dict[int, float]:
  """The mean IWAE_k bound on x [N, D] for each k: how the bound tightens with k."""
  return {k: float(np.mean(importance.importance_sample(
      model, params, x, jax.random.fold_in(key, k), k, batch_size, chunk_size)['log_px']))
          for k in ks}
