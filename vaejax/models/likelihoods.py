"""Pixel likelihoods p(x | z): the model's view of the data, log p(x | z) and the mean image.

Each likelihood turns uint8 images into the decoder's targets x (`prepare`), scores them from
the decoder's output, one value per pixel called `logits` (location logits, the mean being
sigmoid(logits)) and, for the grey-level likelihoods, a learned per-pixel log-scale that does
not depend on z (`log_prob`), and maps the decoder's output to a displayable mean image in
[0, 1] (`mean`). All log-probabilities are in nats of the 8-bit data, so that a model's
-log p(x) / (D ln 2) is its bits per dimension, comparable with published numbers:

- `bernoulli`: x are binarized pixels (a fresh Bernoulli draw each time, or fixed ones);
  log p(x | z) is the probability of the binary image.
- `bernoulli_grey`: the Bernoulli cross-entropy of the grey levels x = k / 255 themselves
  (Pyro's semi-supervised VAE and many others): a training loss, not the probability of any
  image, so its "log-likelihoods" compare with no published number.
- `gaussian`: x = (k + u) / 256 with u ~ U[0, 1) (uniform dequantization), x | z ~ N(mean,
  diag(std^2)). A density p on [0, 1]^D bounds the discrete image's probability, since
  P(k) = 256^-D E_u[p((k + u) / 256)] >= exp(E_u[log p((k + u) / 256)]) 256^-D (Jensen), so
  log p(x | z) is the density's log minus D log 256: a lower bound on log P(k | z) in nats.
- `logistic`: the discretized logistic of PixelCNN++ over 256 levels, x = k / 255: P(k) is the
  logistic's mass on [x - 1/510, x + 1/510], the edge bins reaching -inf (k = 0) and
  +inf (k = 255). An exact discrete probability, computed stably for any scale.
"""

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.models import distributions

LEVELS = 256
INIT_LOG_SCALE = math.log(0.1)  # The learned per-pixel log std (or log scale) starts here.


def grey_levels(images: ArrayLike) -> ArrayLike:
  """uint8 intensity arrays k -> k / 255 in [0, 1], float32 (a numpy array stays numpy)."""
  return images.astype(jnp.float32) / (LEVELS - 1)


def mean(logits: ArrayLike) -> jax.Array:
  """The displayable mean image in [0, 1] of a decoder's output, for every likelihood."""
  return jax.nn.sigmoid(logits)


@dataclasses.dataclass(frozen=True)
class Bernoulli:
  """Bernoulli pixels from logits, on binarized images."""
  name: ClassVar[str] = 'bernoulli'
  has_scale: ClassVar[bool] = False

  def prepare(self, key: jax.Array, images: jax.Array) -> jax.Array:
    """A fresh Bernoulli draw of every pixel: uint8 intensities -> float32 {0, 1}."""
    return datasets.binarize(key, images)

  def log_prob(self, x: ArrayLike, logits: ArrayLike, log_scale: ArrayLike | None) -> jax.Array:
    """log p(x | z) of binary pixels x [D], summed over them."""
    del log_scale
    return distributions.bernoulli_log_prob(x, logits)


@dataclasses.dataclass(frozen=True)
class GreyBernoulli(Bernoulli):
  """The Bernoulli cross-entropy of grey levels in [0, 1]: no binarization, no density."""
  name: ClassVar[str] = 'bernoulli_grey'

  def prepare(self, key: jax.Array, images: jax.Array) -> jax.Array:
    """The grey levels k / 255, the same at every step."""
    del key
    return grey_levels(images)


@dataclasses.dataclass(frozen=True)
class Gaussian:
  """Gaussian pixels (mean sigmoid(logits), learned per-pixel std) on dequantized images."""
  name: ClassVar[str] = 'gaussian'
  has_scale: ClassVar[bool] = True

  def prepare(self, key: jax.Array, images: jax.Array) -> jax.Array:
    """Uniform dequantization: (k + u) / 256, u ~ U[0, 1) per pixel, in [0, 1)."""
    u = jax.random.uniform(key, images.shape, jnp.float32)
    return (images.astype(jnp.float32) + u) / LEVELS

  def log_prob(self, x: ArrayLike, logits: ArrayLike, log_scale: ArrayLike) -> jax.Array:
    """log N(x; sigmoid(logits), exp(log_scale)^2) - D log 256, summed over the pixels x [D].

    The density on [0, 1]^D minus D log 256: a lower bound on the log-probability of the
    8-bit image, in nats (see the module's docstring).
    """
    x = jnp.asarray(x)
    log_density = distributions.gaussian_log_prob(x, mean(logits), jnp.exp(log_scale))
    return log_density - x.shape[-1] * math.log(LEVELS)


@dataclasses.dataclass(frozen=True)
class Logistic:
  """Discretized logistic pixels over 256 levels (mean sigmoid(logits), learned log-scale)."""
  name: ClassVar[str] = 'logistic'
  has_scale: ClassVar[bool] = True

  def prepare(self, key: jax.Array, images: jax.Array) -> jax.Array:
    """The levels themselves: k / 255 in [0, 1], the bins' centres."""
    del key
    return grey_levels(images)

  def log_prob(self, x: ArrayLike, logits: ArrayLike, log_scale: ArrayLike) -> jax.Array:
    """log P(x | z) of pixels x = k / 255 [D], summed over them: see discretized_logistic."""
    return jnp.sum(discretized_logistic_log_prob(x, mean(logits), log_scale), axis=-1)


def discretized_logistic_log_prob(x: ArrayLike, loc: ArrayLike,
                                  log_scale: ArrayLike) -> jax.Array:
  """Per-pixel log P(k) of the logistic(loc, exp(log_scale)) discretized to 256 levels.

  x = k / 255; the bin of k is [x - h, x + h], h = 1/510, except that the bin of k = 0 starts
  at -inf and that of k = 255 ends at +inf, so the 256 probabilities sum to 1. With
  a = (x + h - loc) / s and b = (x - h - loc) / s, sigmoid(a) - sigmoid(b) =
  sigmoid(a) sigmoid(-b) (1 - exp(b - a)), whose log needs no difference of nearly equal
  numbers: stable for any loc and scale (PixelCNN++ switches to the density in the bin's
  centre where the difference underflows; this form never needs to).
  """
  x = jnp.asarray(x)
  inv_scale = jnp.exp(-jnp.asarray(log_scale))
  half_bin = 0.5 / (LEVELS - 1)
  a = (x + half_bin - loc) * inv_scale
  b = (x - half_bin - loc) * inv_scale
  log_cdf_a = jax.nn.log_sigmoid(a)  # log P(X < x + h): the whole log-probability of k = 0.
  log_sf_b = jax.nn.log_sigmoid(-b)  # log P(X > x - h): the whole log-probability of k = 255.
  log_width = jnp.log(-jnp.expm1(-2 * half_bin * inv_scale))  # log(1 - exp(b - a))
  lowest, highest = x < half_bin, x > 1 - half_bin
  return jnp.where(lowest, log_cdf_a,
                   jnp.where(highest, log_sf_b, log_cdf_a + log_sf_b + log_width))


@dataclasses.dataclass(frozen=True)
class Normal:
  """Real-valued data, such as another model's latent means (M1 + M2): x ~ N(output,
  exp(log_scale)^2) per dimension, the output being the mean itself. Not for images, so not
  in LIKELIHOODS."""
  name: ClassVar[str] = 'normal'
  has_scale: ClassVar[bool] = True

  def prepare(self, key: jax.Array, x: jax.Array) -> jax.Array:
    """The values themselves, as float32."""
    del key
    return x.astype(jnp.float32)

  def log_prob(self, x: ArrayLike, logits: ArrayLike, log_scale: ArrayLike) -> jax.Array:
    """log N(x; logits, exp(log_scale)^2), summed over the dimensions of x [D]."""
    return distributions.gaussian_log_prob(x, logits, jnp.exp(log_scale))


LIKELIHOODS = {cls.name: cls for cls in (Bernoulli, GreyBernoulli, Gaussian, Logistic)}


def make_likelihood(name: str):
  """The likelihood called name: 'bernoulli', 'bernoulli_grey', 'gaussian' or 'logistic'."""
  if name not in LIKELIHOODS:
    raise UserError(f'unknown likelihood {name!r}; choose one of {tuple(LIKELIHOODS)}')
  return LIKELIHOODS[name]()
