"""The IWAE paper's MLP VAEs as pure functions of a params pytree.

A model is a stack of L diagonal-Gaussian stochastic layers z_1 ... z_L:

  q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})        (encoder, bottom-up)
  p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1)  (decoder, top-down; p(z_L) = N(0, I))

with p(x | z_1) Bernoulli with logits. Every Gaussian layer is an MLP with tanh hidden units, a
linear mean and std = exp(linear). `VAE` holds only the (static) architecture; all of its methods
are pure functions of `params`, and every random draw takes an explicit key.
"""

import dataclasses
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vaejax import distributions
from vaejax.errors import UserError

Params = Any
NUM_PIXELS = 784


class MLP(nn.Module):
  """tanh hidden layers, then a linear output; Glorot-uniform weights, zero biases."""
  hidden: Sequence[int]
  features: int
  output_bias_init: Any = nn.initializers.zeros

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    init = nn.initializers.glorot_uniform()
    for width in self.hidden:
      h = jnp.tanh(nn.Dense(width, kernel_init=init)(h))
    return nn.Dense(self.features, kernel_init=init, bias_init=self.output_bias_init)(h)


def _gaussian(net: MLP, params: Params, h: jax.Array) -> tuple[jax.Array, jax.Array]:
  mean, log_std = jnp.split(net.apply({'params': params}, h), 2, axis=-1)
  return mean, jnp.exp(log_std)


def reparameterize(key: jax.Array, mean: ArrayLike, std: ArrayLike,
                   num_samples: int) -> jax.Array:
  """Draws num_samples z = mean + std * eps, eps ~ N(0, I): an array [num_samples, D]."""
  mean, std = jnp.asarray(mean), jnp.asarray(std)
  draw = lambda k: mean + std * jax.random.normal(k, mean.shape, mean.dtype)
  return jax.vmap(draw)(jax.random.split(key, num_samples))


@dataclasses.dataclass(frozen=True)
class VAE:
  """A VAE's architecture: latent sizes bottom-up and the hidden widths of each MLP.

  Attributes:
    latent_dims: (d_1, ..., d_L), the size of each stochastic layer, z_1 first.
    encoder_hidden: per stochastic layer l, the hidden widths of q(z_l | z_{l-1}).
    decoder_hidden: per stochastic layer l, the hidden widths of the net that maps z_l down
      (to p(z_{l-1} | z_l), or to p(x | z_1) for l = 1).
  """
  latent_dims: tuple[int, ...]
  encoder_hidden: tuple[tuple[int, ...], ...]
  decoder_hidden: tuple[tuple[int, ...], ...]

  @property
  def num_layers(self) -> int:
    return len(self.latent_dims)

  @property
  def latent_dim(self) -> int:
    """Size of the top latent z_L, the space `encode`, `decode` and the prior live in."""
    return self.latent_dims[-1]

  def _encoder_net(self, l: int) -> MLP:
    return MLP(self.encoder_hidden[l], 2 * self.latent_dims[l])

  def _decoder_net(self, l: int, output_bias: ArrayLike | None = None) -> MLP:
    if l == 0:
      bias_init = nn.initializers.zeros
      if output_bias is not None:
        bias_init = lambda *_: jnp.asarray(output_bias, jnp.float32)
      return MLP(self.decoder_hidden[0], NUM_PIXELS, bias_init)
    return MLP(self.decoder_hidden[l], 2 * self.latent_dims[l - 1])

  def init(self, key: jax.Array, pixel_mean: ArrayLike) -> Params:
    """Glorot-uniform weights; the output bias is the logit of the clipped pixel mean."""
    output_bias = jax.scipy.special.logit(jnp.clip(jnp.asarray(pixel_mean), 0.001, 0.999))
    enc_keys, dec_keys = jnp.split(jax.random.split(key, 2 * self.num_layers), 2)
    inputs = (NUM_PIXELS,) + self.latent_dims[:-1]
    encoder = {
        f'z{l + 1}': self._encoder_net(l).init(enc_keys[l], jnp.zeros(inputs[l]))['params']
        for l in range(self.num_layers)}
    decoder = {
        ('x' if l == 0 else f'z{l}'): self._decoder_net(l, output_bias).init(
            dec_keys[l], jnp.zeros(self.latent_dims[l]))['params']
        for l in range(self.num_layers)}
    return {'encoder': encoder, 'decoder': decoder}

  def encoder_layer(self, params: Params, l: int, h: ArrayLike):
    """(mean, std) of q(z_{l+1} | h), h being x for l = 0 and z_l above."""
    return _gaussian(self._encoder_net(l), params['encoder'][f'z{l + 1}'], h)

  def decoder_layer(self, params: Params, l: int, z: ArrayLike):
    """Logits of p(x | z_1) for l = 0; (mean, std) of p(z_l | z_{l+1}) above."""
    if l == 0:
      return self._decoder_net(0).apply({'params': params['decoder']['x']}, z)
    return _gaussian(self._decoder_net(l), params['decoder'][f'z{l}'], z)

  def encode_layers(self, params: Params, x: ArrayLike) -> list[tuple[jax.Array, jax.Array]]:
    """(mean, std) of every q layer, each layer fed the mean of the one below."""
    layers, h = [], x
    for l in range(self.num_layers):
      layers.append(self.encoder_layer(params, l, h))
      h = layers[-1][0]
    return layers

  def encode(self, params: Params, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of q(z_L | x) for pixels x in [0, 1] (lower layers fed their means)."""
    return self.encode_layers(params, x)[-1]

  def decode(self, params: Params, z: ArrayLike) -> jax.Array:
    """Bernoulli logits of x given the top latent z_L (lower layers at their means)."""
    h = z
    for l in reversed(range(1, self.num_layers)):
      h, _ = self.decoder_layer(params, l, h)
    return self.decoder_layer(params, 0, h)

  def sample_posterior(self, params: Params, x: ArrayLike, key: jax.Array,
                       q_params: Params | None = None):
    """One draw z_1..z_L ~ q(z | x) by reparameterization.

    Args:
      params: model parameters; z is a differentiable function of them.
      x: one binary image [784].
      key: the draw's key.
      q_params: parameters to evaluate log q(z | x) with (default: params).

    Returns:
      (zs, means, log_qz): each layer's sample and mean (given the sample below), and
      log q(z | x).
    """
    keys = jax.random.split(key, self.num_layers)
    zs, means, log_qz, h = [], [], 0.0, x
    for l in range(self.num_layers):
      mean, std = self.encoder_layer(params, l, h)
      z = mean + std * jax.random.normal(keys[l], mean.shape, mean.dtype)
      if q_params is not None:
        mean, std = self.encoder_layer(q_params, l, h)
      log_qz += distributions.gaussian_log_prob(z, mean, std)
      zs.append(z)
      means.append(mean)
      h = z
    return zs, means, log_qz

  def log_weight_terms(self, params: Params, x: ArrayLike, key: jax.Array,
                       stop_q_params: bool = False) -> dict[str, jax.Array]:
    """One importance sample z ~ q(z | x) and the three terms of its log weight.

    Args:
      params: model parameters.
      x: one binary image [784].
      key: the sample's key.
      stop_q_params: evaluate log q(z | x) with the encoder's parameters held fixed (no
        gradient through them; the gradient through z remains), as STL and DReG need.

    Returns:
      {'log_px_given_z', 'log_pz', 'log_qz'}: scalars; log w = log_px_given_z + log_pz - log_qz.
    """
    q_params = jax.lax.stop_gradient(params) if stop_q_params else None
    zs, _, log_qz = self.sample_posterior(params, x, key, q_params)
    log_pz = distributions.standard_normal_log_prob(zs[-1])
    for l in range(1, self.num_layers):
      mean, std = self.decoder_layer(params, l, zs[l])
      log_pz += distributions.gaussian_log_prob(zs[l - 1], mean, std)
    logits = self.decoder_layer(params, 0, zs[0])
    return {
        'log_px_given_z': distributions.bernoulli_log_prob(x, logits),
        'log_pz': log_pz,
        'log_qz': log_qz,
    }

  def log_weights(self, params: Params, x: ArrayLike, key: jax.Array, num_samples: int,
                  stop_q_params: bool = False) -> jax.Array:
    """log w_k = log p(x, z_k) - log q(z_k | x) for num_samples draws z_k: an array [K]."""
    terms = jax.vmap(self.log_weight_terms, in_axes=(None, None, 0, None))(
        params, x, jax.random.split(key, num_samples), stop_q_params)
    return terms['log_px_given_z'] + terms['log_pz'] - terms['log_qz']

  def sample(self, params: Params, key: jax.Array, num_samples: int) -> jax.Array:
    """Ancestral samples from p(z) p(x | z): pixel probabilities [num_samples, 784]."""
    keys = jax.random.split(key, self.num_layers)
    z = jax.random.normal(keys[-1], (num_samples, self.latent_dim))
    for l in reversed(range(1, self.num_layers)):
      mean, std = self.decoder_layer(params, l, z)
      z = mean + std * jax.random.normal(keys[l - 1], mean.shape, mean.dtype)
    return jax.nn.sigmoid(self.decoder_layer(params, 0, z))


@functools.partial(jax.jit, static_argnums=0)
def encode_batch(model: VAE, params: Params, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
  """model.encode over a batch x [N, 784]: (mean, std), each [N, latent_dim]."""
  return jax.vmap(model.encode, in_axes=(None, 0))(params, x)


@functools.partial(jax.jit, static_argnums=0)
def decode_batch(model: VAE, params: Params, z: ArrayLike) -> jax.Array:
  """model.decode over a batch z [N, latent_dim]: logits [N, 784]."""
  return jax.vmap(model.decode, in_axes=(None, 0))(params, z)


ARCHITECTURES = ('one_layer', 'two_layer')


def make_model(architecture: str, latent_dim: int) -> VAE:
  """The paper's one- or two-stochastic-layer model with a top latent of latent_dim units."""
  if architecture == 'one_layer':
    return VAE((latent_dim,), ((200, 200),), ((200, 200),))
  if architecture == 'two_layer':
    return VAE((100, latent_dim), ((200, 200), (100, 100)), ((200, 200), (100, 100)))
  raise UserError(f'unknown architecture {architecture!r}; choose one of {ARCHITECTURES}')
