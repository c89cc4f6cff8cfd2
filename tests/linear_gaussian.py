"""A linear-Gaussian latent variable model whose log p(x) is exact, for checking estimators.

p(z) = N(0, I), p(x | z) = N(W z + b, s^2 I), so p(x) = N(b, W W^T + s^2 I); the encoder
q(z | x) = N(A x + c, diag(exp(2 d))) is a free linear Gaussian. It duck-types the parts of
vaejax.models.vae.VAE the objectives and the evaluator use.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp

from vaejax.logpx import ais
from vaejax.models import distributions
from vaejax.models.vae import VAE


@dataclasses.dataclass(frozen=True)
class LinearGaussian:
  x_dim: int = 4
  z_dim: int = 2
  noise_std: float = 0.7

  def init(self, key):
    k = jax.random.split(key, 4)
    return {
        'decoder': {'w': jax.random.normal(k[0], (self.x_dim, self.z_dim)),
                    'b': jax.random.normal(k[1], (self.x_dim,))},
        'encoder': {'a': 0.3 * jax.random.normal(k[2], (self.z_dim, self.x_dim)),
                    'c': jnp.zeros(self.z_dim), 'log_std': jnp.full(self.z_dim, -0.5)},
    }

  def encode(self, params, x):
    enc = params['encoder']
    return enc['a'] @ x + enc['c'], jnp.exp(enc['log_std'])

  def log_weight_terms(self, params, x, key, stop_q_params=False):
    mean, std = self.encode(params, x)
    z = mean + std * jax.random.normal(key, mean.shape)
    if stop_q_params:
      mean, std = self.encode(jax.lax.stop_gradient(params), x)
    dec = params['decoder']
    noise = jnp.full(self.x_dim, self.noise_std)
    return {'log_px_given_z': distributions.gaussian_log_prob(x, dec['w'] @ z + dec['b'], noise),
            'log_pz': distributions.standard_normal_log_prob(z),
            'log_qz': distributions.gaussian_log_prob(z, mean, std)}

  log_weights = VAE.log_weights

  def log_joint(self, params, x, z):
    dec = params['decoder']
    noise = jnp.full(self.x_dim, self.noise_std)
    return (distributions.gaussian_log_prob(x, dec['w'] @ z + dec['b'], noise)
            + distributions.standard_normal_log_prob(z))

  def ais_path(self, params, x):
    """The AIS path (vaejax.logpx.ais.Path) of x from the prior."""
    return ais.Path(distributions.standard_normal_log_prob,
                    lambda key: jax.random.normal(key, (self.z_dim,)),
                    functools.partial(self.log_joint, params, x))

  def exact_log_px(self, params, x):
    dec = params['decoder']
    cov = dec['w'] @ dec['w'].T + self.noise_std**2 * jnp.eye(self.x_dim)
    return jax.scipy.stats.multivariate_normal.logpdf(x, dec['b'], cov)

  def exact_posterior(self, params, x):
    """(mean, cov) of p(z | x)."""
    dec = params['decoder']
    precision = jnp.eye(self.z_dim) + dec['w'].T @ dec['w'] / self.noise_std**2
    cov = jnp.linalg.inv(precision)
    return cov @ dec['w'].T @ (x - dec['b']) / self.noise_std**2, cov
