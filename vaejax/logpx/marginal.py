"""log p(x) of a VAE by a method of choice: importance sampling, AIS, or exact quadrature."""

from typing import Callable

import jax
import numpy as np
from jax.typing import ArrayLike

from vaejax.errors import UserError
from vaejax.logpx import ais
from vaejax.logpx import importance
from vaejax.logpx import quadrature
from vaejax.models.vae import VAE, Params

METHODS = ('is', 'ais', 'quadrature')
_OPTIONS = {'is': ('num_samples', 'chunk_size'), 'ais': ais.Options._fields,
            'quadrature': ('half_width', 'num_points')}


def log_likelihood(model: VAE, params: Params, x_NxD: ArrayLike, key: jax.Array,
                   method: str = 'is', batch_size: int = 20,
                   on_batch: Callable[[int], None] | None = None, **options) -> np.ndarray:
  """Per-image log p(x) [N] of images x [N, D] as the model's likelihood prepares them.

  Args:
    model, params: the VAE.
    x_NxD: the images.
    key: image i draws with fold_in(key, i) (unused by quadrature).
    method: 'is' (importance sampling from q(z | x); options num_samples, default 5000, and
      chunk_size), 'ais' (vaejax/logpx/ais.py; options: the fields of ais.Options: num_steps,
      num_chains, num_leapfrog_steps, start, ...) or 'quadrature' (exact, for one 2-D
      stochastic layer; options half_width, num_points).
    batch_size: images per compiled call.
    on_batch: called with the number of images done after each batch (importance sampling:
      once, at the end).
  """
  if method not in METHODS:
    raise UserError(f'unknown log-likelihood method {method!r}; choose one of {METHODS}')
  unknown = set(options) - set(_OPTIONS[method])
  if unknown:
    raise UserError(f'method {method!r} takes options {_OPTIONS[method]}, not {sorted(unknown)}')
  if method == 'ais':
    return ais.log_likelihood(model, params, x_NxD, key, ais.Options(**options), batch_size,
                              on_batch)['log_px']
  if method == 'quadrature':
    return quadrature.log_likelihood(model, params, x_NxD, batch_size=batch_size,
                                     on_batch=on_batch, **options)
  num_samples = options.get('num_samples', 5000)
  if num_samples < 1:
    raise UserError(f'importance sampling needs num_samples >= 1, got {num_samples}')
  log_px = importance.importance_sample(model, params, np.asarray(x_NxD, np.float32), key,
                                      num_samples, batch_size,
                                      options.get('chunk_size', 100))['log_px']
  if on_batch is not None:
    on_batch(len(log_px))
  return log_px
