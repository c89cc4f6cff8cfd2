"""The IWAE paper's MLP VAEs, and a convolutional one, as pure functions of a params pytree.

A model is a stack of L diagonal-Gaussian stochastic layers z_1 ... z_L:

  q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})        (encoder, bottom-up)
  p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1)  (decoder, top-down; p(z_L) = N(0, I))

with p(x | z_1) one of vaejax/models/likelihoods.py (Bernoulli, Gaussian, discretized logistic) of
the decoder's per-pixel output. Images x are flattened to D = H * W * C values. Every Gaussian
layer is an MLP with tanh hidden units and two linear heads, the mean and log std (std =
exp(linear)), each Glorot-uniform with its own fan-out d as in the paper's released code; the
two heads are stored side by side as one Dense(2d) kernel (gaussian_heads_init). The nets between
x and z_1 can instead be convolutional (`conv_channels`). `VAE` holds only the (static)
architecture; all of its methods are pure functions of `params`, and every random draw takes
an explicit key.
"""

import dataclasses
import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vaejax.errors import UserError
from vaejax.models import discrete
from vaejax.models import distributions
from vaejax.models import likelihoods
from vaejax.models.networks import MLP, MNIST_SHAPE, Params

ACTIVATIONS = {'tanh': jnp.tanh, 'softplus': jax.nn.softplus, 'relu': jax.nn.relu}


def gaussian_heads_init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32):
  """A kernel [..., 2d] of two heads [..., d] (mean, then log std), each Glorot-uniform with
  fan-out d: the released code's separate heads, the same function as one Dense(2d)."""
  glorot = nn.initializers.glorot_uniform()
  head_shape = tuple(shape[:-1]) + (shape[-1] // 2,)
  return jnp.concatenate([glorot(k, head_shape, dtype) for k in jax.random.split(key)], -1)


def _shrink(size: int, times: int) -> int:
  """The size left after `times` stride-2 'SAME' convolutions."""
  for _ in range(times):
    size = -(-size // 2)
  return size


class ConvEncoder(nn.Module):
  """Images [..., H * W * C] -> tanh 3x3 convolutions of stride 2 -> a Gaussian's two linear
  heads [..., features] (gaussian_heads_init)."""
  image_shape: tuple[int, int, int]
  channels: Sequence[int]
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    init = nn.initializers.glorot_uniform()
    h = x.reshape(x.shape[:-1] + self.image_shape)
    for channels in self.channels:
      h = jnp.tanh(nn.Conv(channels, (3, 3), strides=2, kernel_init=init)(h))
    return nn.Dense(self.features, kernel_init=gaussian_heads_init)(
        h.reshape(h.shape[:-3] + (-1,)))


class ConvDecoder(nn.Module):
  """z [..., d] -> a tanh linear layer to a small grid of channels[0] -> tanh 3x3 transposed
  convolutions of stride 2 to channels[1:], then to the C colours -> cropped to [H, W],
  flattened to [..., H * W * C], plus a per-pixel output bias."""
  image_shape: tuple[int, int, int]
  channels: Sequence[int]
  output_bias_init: Any = nn.initializers.zeros

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    init = nn.initializers.glorot_uniform()
    height, width, colours = self.image_shape
    grid = (_shrink(height, len(self.channels)), _shrink(width, len(self.channels)),
            self.channels[0])
    h = jnp.tanh(nn.Dense(math.prod(grid), kernel_init=init)(z)).reshape(z.shape[:-1] + grid)
    for channels in self.channels[1:]:
      h = jnp.tanh(nn.ConvTranspose(channels, (3, 3), strides=(2, 2), kernel_init=init)(h))
    h = nn.ConvTranspose(colours, (3, 3), strides=(2, 2), use_bias=False, kernel_init=init)(h)
    bias = self.param('output_bias', self.output_bias_init, (height * width * colours,))
    h = h[..., :height, :width, :]
    h = h.reshape(h.shape[:-3] + (-1,))
    return h + bias.reshape((1,) * (h.ndim - 1) + (-1,))


def _gaussian(net: nn.Module, params: Params, h: jax.Array) -> tuple[jax.Array, jax.Array]:
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
  """A VAE's architecture: image shape, likelihood, latent sizes and each net's widths.

  Attributes:
    latent_dims: (d_1, ..., d_L), the size of each stochastic layer, z_1 first.
    encoder_hidden: per stochastic layer l, the hidden widths of q(z_l | z_{l-1}).
    decoder_hidden: per stochastic layer l, the hidden widths of the net that maps z_l down
      (to p(z_{l-1} | z_l), or to p(x | z_1) for l = 1).
    image_shape: (H, W, C) of the images; x is flattened to D = H * W * C values.
    likelihood: p(x | z_1), from vaejax/models/likelihoods.py.
    conv_channels: if not empty, q(z_1 | x) is a ConvEncoder with these channels and p(x | z_1)
      a ConvDecoder with them reversed (encoder_hidden[0] and decoder_hidden[0] unused).
    activation: the MLPs' hidden units, a name of ACTIVATIONS.
  """
  latent_dims: tuple[int, ...]
  encoder_hidden: tuple[tuple[int, ...], ...]
  decoder_hidden: tuple[tuple[int, ...], ...]
  image_shape: tuple[int, int, int] = MNIST_SHAPE
  likelihood: Any = likelihoods.Bernoulli()
  conv_channels: tuple[int, ...] = ()
  activation: str = 'tanh'
  reparameterizable = True  # z = mean + std * eps: a pathwise gradient exists.

  @property
  def num_layers(self) -> int:
    return len(self.latent_dims)

  @property
  def latent_dim(self) -> int:
    """Size of the top latent z_L, the space `encode`, `decode` and the prior live in."""
    return self.latent_dims[-1]

  @property
  def num_inputs(self) -> int:
    """D, the size of a flattened input (an image): as m2.M2.num_inputs."""
    return math.prod(self.image_shape)

  def _encoder_net(self, l: int) -> nn.Module:
    if l == 0 and self.conv_channels:
      return ConvEncoder(self.image_shape, self.conv_channels, 2 * self.latent_dims[0])
    return MLP(self.encoder_hidden[l], 2 * self.latent_dims[l],
               output_kernel_init=gaussian_heads_init, activation=ACTIVATIONS[self.activation])

  def _decoder_net(self, l: int, output_bias: ArrayLike | None = None) -> nn.Module:
    if l == 0:
      bias_init = nn.initializers.zeros
      if output_bias is not None:
        bias_init = lambda *_: jnp.asarray(output_bias, jnp.float32)
      if self.conv_channels:
        return ConvDecoder(self.image_shape, self.conv_channels[::-1], bias_init)
      return MLP(self.decoder_hidden[0], self.num_inputs, bias_init,
                 activation=ACTIVATIONS[self.activation])
    return MLP(self.decoder_hidden[l], 2 * self.latent_dims[l - 1],
               output_kernel_init=gaussian_heads_init, activation=ACTIVATIONS[self.activation])

  def init(self, key: jax.Array, pixel_mean: ArrayLike) -> Params:
    """Glorot-uniform weights; the output bias is the logit of the clipped pixel mean [D].

    Likelihoods with a scale add params['decoder']['log_scale'] [D], the per-pixel log std
    (or log scale), which does not depend on z, starting at likelihoods.INIT_LOG_SCALE.
    """
    output_bias = jax.scipy.special.logit(jnp.clip(jnp.asarray(pixel_mean), 0.001, 0.999))
    enc_keys, dec_keys = jnp.split(jax.random.split(key, 2 * self.num_layers), 2)
    inputs = (self.num_inputs,) + self.latent_dims[:-1]
    encoder = {
        f'z{l + 1}': self._encoder_net(l).init(enc_keys[l], jnp.zeros(inputs[l]))['params']
        for l in range(self.num_layers)}
    decoder = {
        ('x' if l == 0 else f'z{l}'): self._decoder_net(l, output_bias).init(
            dec_keys[l], jnp.zeros(self.latent_dims[l]))['params']
        for l in range(self.num_layers)}
    if self.likelihood.has_scale:
      decoder['log_scale'] = jnp.full(self.num_inputs, likelihoods.INIT_LOG_SCALE)
    return {'encoder': encoder, 'decoder': decoder}

  def encoder_layer(self, params: Params, l: int, h: ArrayLike):
    """(mean, std) of q(z_{l+1} | h), h being x for l = 0 and z_l above."""
    return _gaussian(self._encoder_net(l), params['encoder'][f'z{l + 1}'], h)

  def decoder_layer(self, params: Params, l: int, z: ArrayLike):
    """The decoder's output [D] for p(x | z_1) for l = 0; (mean, std) of p(z_l | z_{l+1})
    above."""
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

  @property
  def has_hidden_features(self) -> bool:
    """Whether q(z_1 | x) is an MLP with a hidden layer (what hidden_features reads)."""
    return not self.conv_channels and bool(self.encoder_hidden[0])

  def hidden_features(self, params: Params, x: ArrayLike) -> jax.Array:
    """The activations [H] of the last hidden layer of q(z_1 | x)'s MLP, x [D] in [0, 1]."""
    if not self.has_hidden_features:
      raise UserError('the encoder\'s hidden layer needs an MLP encoder with a hidden layer')
    return self._encoder_net(0).apply({'params': params['encoder']['z1']}, x, last_hidden=True)

  def encode(self, params: Params, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of q(z_L | x) for an image x [D] in [0, 1] (lower layers fed their means)."""
    return self.encode_layers(params, x)[-1]

  def decode(self, params: Params, z: ArrayLike) -> jax.Array:
    """The decoder's output [D] given the top latent z_L (lower layers at their means).

    Its mean image in [0, 1] is likelihoods.mean(output); for the Bernoulli likelihood the
    output is the logits.
    """
    h = z
    for l in reversed(range(1, self.num_layers)):
      h, _ = self.decoder_layer(params, l, h)
    return self.decoder_layer(params, 0, h)

  def sample_posterior(self, params: Params, x: ArrayLike, key: jax.Array,
                       q_params: Params | None = None, stop_z: bool = False):
    """One draw z_1..z_L ~ q(z | x) by reparameterization.

    Args:
      params: model parameters; z is a differentiable function of them.
      x: one image [D], as the likelihood prepares it.
      key: the draw's key.
      q_params: parameters to evaluate log q(z | x) with (default: params).
      stop_z: draw z without a gradient path (score-function estimators).

    Returns:
      (zs, means, log_qz): each layer's sample and mean (given the sample below), and
      log q(z | x).
    """
    keys = jax.random.split(key, self.num_layers)
    zs, means, log_qz, h = [], [], 0.0, x
    for l in range(self.num_layers):
      mean, std = self.encoder_layer(params, l, h)
      z = mean + std * jax.random.normal(keys[l], mean.shape, mean.dtype)
      if stop_z:
        z = jax.lax.stop_gradient(z)
      if q_params is not None:
        mean, std = self.encoder_layer(q_params, l, h)
      log_qz += distributions.gaussian_log_prob(z, mean, std)
      zs.append(z)
      means.append(mean)
      h = z
    return zs, means, log_qz

  def log_weight_terms(self, params: Params, x: ArrayLike, key: jax.Array,
                       stop_q_params: bool = False, stop_z: bool = False
                       ) -> dict[str, jax.Array]:
    """One importance sample z ~ q(z | x) and the three terms of its log weight.

    Args:
      params: model parameters.
      x: one image [D], as the likelihood prepares it.
      key: the sample's key.
      stop_q_params: evaluate log q(z | x) with the encoder's parameters held fixed (no
        gradient through them; the gradient through z remains), as STL and DReG need.
      stop_z: draw z without a gradient path, so that the encoder's gradient of log w is
        -grad log q(z | x) at a fixed z, as the score-function estimators need.

    Returns:
      {'log_px_given_z', 'log_pz', 'log_qz'}: scalars; log w = log_px_given_z + log_pz - log_qz.
    """
    q_params = jax.lax.stop_gradient(params) if stop_q_params else None
    zs, _, log_qz = self.sample_posterior(params, x, key, q_params, stop_z)
    log_pz = self.log_prior(params, zs)
    logits = self.decoder_layer(params, 0, zs[0])
    log_scale = params['decoder'].get('log_scale')
    return {
        'log_px_given_z': self.likelihood.log_prob(x, logits, log_scale),
        'log_pz': log_pz,
        'log_qz': log_qz,
    }

  def log_prior(self, params: Params, zs: Sequence[jax.Array]) -> jax.Array:
    """log p(z) = log p(z_L) + sum_l log p(z_l | z_{l+1}) of the layers' zs [z_1, ..., z_L]."""
    log_pz = distributions.standard_normal_log_prob(zs[-1])
    for l in range(1, self.num_layers):
      mean, std = self.decoder_layer(params, l, zs[l])
      log_pz += distributions.gaussian_log_prob(zs[l - 1], mean, std)
    return log_pz

  def sample_prior(self, params: Params, key: jax.Array,
                   num_samples: int | None = None) -> list[jax.Array]:
    """An ancestral draw [z_1, ..., z_L] ~ p(z), each [d_l] (or [num_samples, d_l])."""
    shape = () if num_samples is None else (num_samples,)
    keys = jax.random.split(key, self.num_layers)
    zs = [jax.random.normal(keys[-1], shape + (self.latent_dim,))]
    for l in reversed(range(1, self.num_layers)):
      mean, std = self.decoder_layer(params, l, zs[0])
      zs.insert(0, mean + std * jax.random.normal(keys[l - 1], mean.shape, mean.dtype))
    return zs

  def log_weights(self, params: Params, x: ArrayLike, key: jax.Array, num_samples: int,
                  stop_q_params: bool = False) -> jax.Array:
    """log w_k = log p(x, z_k) - log q(z_k | x) for num_samples draws z_k: an array [K]."""
    terms = jax.vmap(self.log_weight_terms, in_axes=(None, None, 0, None))(
        params, x, jax.random.split(key, num_samples), stop_q_params)
    return terms['log_px_given_z'] + terms['log_pz'] - terms['log_qz']

  def sample(self, params: Params, key: jax.Array, num_samples: int) -> jax.Array:
    """Ancestral samples of z ~ p(z), decoded to mean images [num_samples, D] in [0, 1]."""
    z_1 = self.sample_prior(params, key, num_samples)[0]
    return likelihoods.mean(self.decoder_layer(params, 0, z_1))


@functools.partial(jax.jit, static_argnums=0)
def encode_batch(model: VAE, params: Params, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
  """model.encode over a batch x [N, D]: (mean, std), each [N, latent_dim]."""
  return jax.vmap(model.encode, in_axes=(None, 0))(params, x)


@functools.partial(jax.jit, static_argnums=0)
def decode_batch(model: VAE, params: Params, z: ArrayLike) -> jax.Array:
  """model.decode over a batch z [N, latent_dim]: the decoder's outputs [N, D]."""
  return jax.vmap(model.decode, in_axes=(None, 0))(params, z)


ARCHITECTURES = ('one_layer', 'two_layer', 'conv') + discrete.ARCHITECTURES
CONV_CHANNELS = (32, 64)


def make_model(architecture: str, latent_dim: int,
               image_shape: tuple[int, int, int] = MNIST_SHAPE,
               likelihood: str = 'bernoulli', hidden: Sequence[int] = (),
               activation: str = 'tanh'):
  """A model with a top latent of latent_dim units for images of image_shape (H, W, C).

  Args:
    architecture: 'one_layer' or 'two_layer', the paper's MLP models with one or two
      stochastic layers, or 'conv': one stochastic layer, ConvEncoder with CONV_CHANNELS
      (stride 2 each) and a ConvDecoder mirroring it.
    latent_dim: size of the top latent.
    image_shape: (H, W, C) of the data's images.
    likelihood: 'bernoulli', 'gaussian' or 'logistic' (vaejax/models/likelihoods.py).
    hidden: the hidden widths between x and z_1, each way, for the MLP models (empty: the
      paper's 200-200), e.g. (500, 500) for Kingma et al.'s M1.
    activation: the MLPs' hidden units, 'tanh' (the paper's), 'softplus' (Kingma et al.'s)
      or 'relu'.

  'sbn_linear', 'sbn_nonlinear' and 'categorical' are vaejax/models/discrete.py's discrete-latent
  models (a DiscreteVAE), with their own widths and tanh units.
  """
  if architecture in discrete.ARCHITECTURES:
    if hidden or activation != 'tanh':
      raise UserError(f'architecture {architecture!r} sets its own tanh layers: leave '
                      'mlp_hidden empty and activation tanh')
    return discrete.make_model(architecture, latent_dim, image_shape, likelihood)
  image_shape = tuple(int(n) for n in image_shape)
  like = likelihoods.make_likelihood(likelihood)
  if activation not in ACTIVATIONS:
    raise UserError(f'unknown activation {activation!r}; choose one of {tuple(ACTIVATIONS)}')
  if any(int(width) < 1 for width in hidden):
    raise UserError(f'hidden widths must be at least 1, got {tuple(hidden)}')
  outer = tuple(int(width) for width in hidden) or (200, 200)
  if architecture == 'one_layer':
    return VAE((latent_dim,), (outer,), (outer,), image_shape, like, activation=activation)
  if architecture == 'two_layer':
    return VAE((100, latent_dim), (outer, (100, 100)), (outer, (100, 100)), image_shape, like,
               activation=activation)
  if architecture == 'conv':
    if hidden or activation != 'tanh':
      raise UserError("architecture 'conv' has tanh convolutions and no MLP hidden layers: "
                      'leave mlp_hidden empty and activation tanh')
    return VAE((latent_dim,), ((),), ((),), image_shape, like, CONV_CHANNELS,
               activation=activation)
  raise UserError(f'unknown architecture {architecture!r}; choose one of {ARCHITECTURES}')
