"""Exact log p(x) of models with a 2-D latent space, by quadrature on a grid.

log p(x) = log of the integral of p(x | z) p(z) over z in R^2, computed by the midpoint rule
on an n x n grid of cells of side h covering [-L, L]^2: logsumexp over the cells' centres of
log p(x, z) + 2 log h. For a smooth integrand that vanishes at the box's edges the rule's error
falls faster than any power of h; the prior's mass outside [-6, 6]^2 is below 1e-8. The grid
needs h well below the posterior's smallest standard deviation.

The oracle the AIS and importance-sampling tests are checked against.
"""

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from vaejax.errors import UserError
from vaejax.models import latents
from vaejax.models.vae import VAE, Params


def grid(half_width: float, num_points: int) -> tuple[jax.Array, float]:
  """The cells' centres along one axis [n] over [-half_width, half_width], and their side h."""
  h = 2 * half_width / num_points
  return -half_width + h * (jnp.arange(num_points) + 0.5), h


def log_marginal(log_joint: Callable[[jax.Array, jax.Array], jax.Array], x_BxD: jax.Array,
                 half_width: float = 6.0, num_points: int = 400) -> jax.Array:
  """log of the integral of exp(log_joint(x, z)) over z in [-L, L]^2, for each image [B].

  One row of the grid at a time (memory: B x num_points joint values and what log_joint
  needs for num_points latents); parts of log_joint that do not depend on x (a decoder's
  output) are computed once per row for all B images.
  """
  centres, h = grid(half_width, num_points)
  joint_BxP = jax.vmap(jax.vmap(log_joint, in_axes=(None, 0)), in_axes=(0, None))

  def add_row(lse_B, z1):
    z_Px2 = jnp.stack([jnp.full_like(centres, z1), centres], axis=-1)
    return jnp.logaddexp(lse_B, jax.nn.logsumexp(joint_BxP(x_BxD, z_Px2), axis=1)), None

  init = jnp.full(x_BxD.shape[0], -jnp.inf, jnp.float32)
  lse_B, _ = jax.lax.scan(add_row, init, centres)
  return lse_B + 2 * math.log(h)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _batch(model, params, x_BxD, half_width, num_points):
  return log_marginal(functools.partial(latents.log_joint, model, params), x_BxD, half_width,
                      num_points)


def log_likelihood(model: VAE, params: Params, x_NxD: ArrayLike, half_width: float = 6.0,
                   num_points: int = 400, batch_size: int = 100,
                   on_batch: Callable[[int], None] | None = None) -> np.ndarray:
  """Exact (to the grid's accuracy) log p(x) [N] of a VAE with one 2-D stochastic layer.

  Args:
    model, params: the VAE.
    x_NxD: images as the model's likelihood prepares them.
    half_width: L, the grid covers [-L, L]^2 of the prior's space.
    num_points: n, grid points per axis (n^2 decoder evaluations per batch of images).
    batch_size: images per compiled call.
    on_batch: called with the number of images done after each batch.
  """
  if model.latent_dims != (2,):
    raise UserError(f'quadrature needs one stochastic layer of 2 units, not latent sizes '
                    f'{model.latent_dims}')
  if num_points < 1 or half_width <= 0:
    raise UserError(f'quadrature needs num_points >= 1 and half_width > 0, got {num_points} '
                    f'and {half_width}')
  n = np.shape(x_NxD)[0]
  batch_size = min(batch_size, n)
  padded = -(-n // batch_size) * batch_size  # Every batch of one shape: one compilation.
  x_NxD = jnp.pad(jnp.asarray(x_NxD, jnp.float32), ((0, padded - n), (0, 0)))
  parts = []
  for i in range(0, padded, batch_size):
    parts.append(np.asarray(_batch(model, params, x_NxD[i:i + batch_size], float(half_width),
                                   num_points)))
    if on_batch is not None:
      on_batch(min(i + batch_size, n))
  return np.concatenate(parts)[:n]
