"""Models with discrete latents: sigmoid belief nets and a categorical-latent VAE.

A stack of L discrete stochastic layers z_1 ... z_L, z_1 next to x:

  q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})           (inference network)
  p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1)     (generative network)

Each conditional is a product of Bernoulli units (num_categories 2: a sigmoid belief net) or
of one-hot categoricals over C categories (num_categories C > 2; z_l is stored flattened as
[d_l * C]), its logits an MLP of the layer below (or above): with no hidden layers the linear
SBN, with tanh hidden layers the nonlinear one. p(z_L) has learned logits (zero at init:
uniform) and p(x | z_1) is Bernoulli. As vaejax.models.vae.VAE, the class holds the architecture
only; every method is a pure function of `params` with explicit keys.

A draw uses logistic (Bernoulli) or Gumbel (categorical) noise n on the logits l: the discrete
sample is H(l + n) (a step, or one_hot(argmax)); the Concrete relaxation at temperature tau is
sigmoid((l + n) / tau) (or softmax); straight-through is the discrete sample in the forward
pass with the relaxed one's gradient. The same key gives the same noise for all three, so the
relaxed draws tend to the discrete one as tau falls. Relaxed draws are scored with the same
expressions as discrete ones (z log sigmoid(l) + (1 - z) log sigmoid(-l), z . log softmax(l)),
as REBAR and RWS's relaxed bounds do.
"""

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vaejax.errors import UserError
from vaejax.models import distributions
from vaejax.models import likelihoods
from vaejax.models import networks

Params = Any
RELAXATIONS = (None, 'concrete', 'straight_through')


@dataclasses.dataclass(frozen=True)
class DiscreteVAE:
  """A discrete-latent model's architecture.

  Attributes:
    latent_dims: (d_1, ..., d_L): units (Bernoulli) or variables (categorical) per layer.
    hidden: the tanh hidden widths of every net between two layers (decoder nets reversed);
      () for the linear sigmoid belief net.
    num_categories: 2 for Bernoulli units, C > 2 for categorical variables of C categories.
    image_shape: (H, W, C) of the binary images, flattened to D values.
  """
  latent_dims: tuple[int, ...]
  hidden: tuple[int, ...] = ()
  num_categories: int = 2
  image_shape: tuple[int, int, int] = networks.MNIST_SHAPE
  likelihood: Any = likelihoods.Bernoulli()
  reparameterizable = False  # Discrete draws: no pathwise gradient.

  @property
  def num_layers(self) -> int:
    return len(self.latent_dims)

  @property
  def num_inputs(self) -> int:
    return math.prod(self.image_shape)

  def width(self, l: int) -> int:
    """The size of z_{l+1} as stored (d * C for a categorical layer)."""
    return self.latent_dims[l] * (1 if self.num_categories == 2 else self.num_categories)

  @property
  def latent_dim(self) -> int:
    """Size of the top latent z_L as stored, the space `encode` and `decode` live in."""
    return self.width(self.num_layers - 1)

  def _net(self, hidden, features, output_bias=None) -> nn.Module:
    bias_init = nn.initializers.zeros
    if output_bias is not None:
      bias_init = lambda *_: jnp.asarray(output_bias, jnp.float32)
    return networks.MLP(hidden, features, bias_init)

  def init(self, key: jax.Array, pixel_mean: ArrayLike) -> Params:
    """Glorot-uniform weights, zero biases; p(x | z_1)'s bias is the logit of the clipped
    pixel mean [D] and p(z_L)'s logits are zero."""
    output_bias = jax.scipy.special.logit(jnp.clip(jnp.asarray(pixel_mean), 0.001, 0.999))
    enc_keys, dec_keys = jnp.split(jax.random.split(key, 2 * self.num_layers), 2)
    inputs = (self.num_inputs,) + tuple(self.width(l) for l in range(self.num_layers - 1))
    encoder = {f'z{l + 1}': self._net(self.hidden, self.width(l)).init(
        enc_keys[l], jnp.zeros(inputs[l]))['params'] for l in range(self.num_layers)}
    decoder = {('x' if l == 0 else f'z{l}'): self._net(
        self.hidden[::-1], inputs[l], output_bias if l == 0 else None).init(
            dec_keys[l], jnp.zeros(self.width(l)))['params'] for l in range(self.num_layers)}
    decoder['prior'] = jnp.zeros(self.latent_dim)
    return {'encoder': encoder, 'decoder': decoder}

  def encoder_logits(self, params: Params, l: int, h: ArrayLike) -> jax.Array:
    """Logits of q(z_{l+1} | h), h being x for l = 0 and z_l above."""
    return self._net(self.hidden, self.width(l)).apply(
        {'params': params['encoder'][f'z{l + 1}']}, h)

  def decoder_logits(self, params: Params, l: int, z: ArrayLike) -> jax.Array:
    """Logits of p(x | z_1) for l = 0, of p(z_l | z_{l+1}) above."""
    name = 'x' if l == 0 else f'z{l}'
    features = self.num_inputs if l == 0 else self.width(l - 1)
    return self._net(self.hidden[::-1], features).apply({'params': params['decoder'][name]}, z)

  def _grouped(self, a: jax.Array) -> jax.Array:
    return a.reshape(a.shape[:-1] + (-1, self.num_categories))

  def log_prob(self, z: ArrayLike, logits: ArrayLike) -> jax.Array:
    """log of one layer's conditional at z (discrete, or relaxed: the same expression)."""
    if self.num_categories == 2:
      return distributions.bernoulli_log_prob(z, logits)
    return distributions.categorical_log_prob(self._grouped(z), self._grouped(logits))

  def probs(self, logits: ArrayLike) -> jax.Array:
    """Each stored unit's probability of being 1 under one layer's logits."""
    if self.num_categories == 2:
      return jax.nn.sigmoid(logits)
    return jax.nn.softmax(self._grouped(logits), axis=-1).reshape(jnp.shape(logits))

  def draw(self, key: jax.Array, logits: jax.Array, relaxation: str | None = None,
           temperature: ArrayLike = 1.0) -> jax.Array:
    """One draw of a layer: discrete, Concrete-relaxed, or straight-through (module doc)."""
    if self.num_categories == 2:
      noisy = logits + jax.random.logistic(key, logits.shape, logits.dtype)
      hard = (noisy > 0).astype(logits.dtype)
      relaxed = lambda: jax.nn.sigmoid(noisy / temperature)
    else:
      noisy = self._grouped(logits) + jax.random.gumbel(key, self._grouped(logits).shape,
                                                         logits.dtype)
      hard = jax.nn.one_hot(jnp.argmax(noisy, -1), self.num_categories,
                            dtype=logits.dtype).reshape(logits.shape)
      relaxed = lambda: jax.nn.softmax(noisy / temperature, axis=-1).reshape(logits.shape)
    if relaxation is None:
      return hard
    if relaxation == 'concrete':
      return relaxed()
    soft = relaxed()
    return hard + (soft - jax.lax.stop_gradient(soft))  # Exactly hard in the forward pass.

  def sample_posterior(self, params: Params, x: ArrayLike, key: jax.Array,
                       q_params: Params | None = None, relaxation: str | None = None,
                       temperature: ArrayLike = 1.0):
    """One draw z_1..z_L ~ q(z | x).

    Returns:
      (zs, means, log_qz): each layer's draw and its units' probabilities (given the draw
      below), and log q(z | x) (with q_params' networks if given).
    """
    keys = jax.random.split(key, self.num_layers)
    zs, means, log_qz, h = [], [], 0.0, x
    for l in range(self.num_layers):
      logits = self.encoder_logits(params, l, h)
      z = self.draw(keys[l], logits, relaxation, temperature)
      if q_params is not None:
        logits = self.encoder_logits(q_params, l, h)
      log_qz += self.log_prob(z, logits)
      zs.append(z)
      means.append(self.probs(logits))
      h = z
    return zs, means, log_qz

  def log_q(self, params: Params, x: ArrayLike, zs: list[jax.Array]) -> jax.Array:
    """log q(z_1..z_L | x) of given draws."""
    hs = [x] + list(zs[:-1])
    return sum(self.log_prob(zs[l], self.encoder_logits(params, l, hs[l]))
               for l in range(self.num_layers))

  def log_joint_terms(self, params: Params, x: ArrayLike,
                      zs: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """(log p(x | z_1), log p(z_1..z_L)) of given draws."""
    log_pz = self.log_prob(zs[-1], params['decoder']['prior'])
    for l in range(1, self.num_layers):
      log_pz += self.log_prob(zs[l - 1], self.decoder_logits(params, l, zs[l]))
    return self.likelihood.log_prob(x, self.decoder_logits(params, 0, zs[0]), None), log_pz

  def log_weight_terms(self, params: Params, x: ArrayLike, key: jax.Array,
                       stop_q_params: bool = False, relaxation: str | None = None,
                       temperature: ArrayLike = 1.0) -> dict[str, jax.Array]:
    """One draw z ~ q(z | x) (relaxed as told) and the three terms of its log weight, as
    VAE.log_weight_terms."""
    q_params = jax.lax.stop_gradient(params) if stop_q_params else None
    zs, _, log_qz = self.sample_posterior(params, x, key, q_params, relaxation, temperature)
    log_px_given_z, log_pz = self.log_joint_terms(params, x, zs)
    return {'log_px_given_z': log_px_given_z, 'log_pz': log_pz, 'log_qz': log_qz}

  def log_weights(self, params: Params, x: ArrayLike, key: jax.Array, num_samples: int,
                  stop_q_params: bool = False, relaxation: str | None = None,
                  temperature: ArrayLike = 1.0) -> jax.Array:
    """log w_k for num_samples draws: an array [K]."""
    terms = jax.vmap(lambda k: self.log_weight_terms(params, x, k, stop_q_params, relaxation,
                                                     temperature))(
        jax.random.split(key, num_samples))
    return terms['log_px_given_z'] + terms['log_pz'] - terms['log_qz']

  def sample_joint(self, params: Params, key: jax.Array) -> tuple[list[jax.Array], jax.Array]:
    """One ancestral draw (z_1..z_L, x) ~ p(z) p(x | z), x binary [D]."""
    keys = jax.random.split(key, self.num_layers + 1)
    z = self.draw(keys[-2], params['decoder']['prior'])
    zs = [z]
    for l in reversed(range(1, self.num_layers)):
      z = self.draw(keys[l - 1], self.decoder_logits(params, l, z))
      zs.insert(0, z)
    logits = self.decoder_logits(params, 0, z)
    return zs, jax.random.bernoulli(keys[-1], jax.nn.sigmoid(logits)).astype(logits.dtype)

  def sample(self, params: Params, key: jax.Array, num_samples: int) -> jax.Array:
    """Ancestral draws of z ~ p(z), decoded to mean images [num_samples, D] in [0, 1]."""
    def one(k):
      zs, _ = self.sample_joint(params, k)
      return jax.nn.sigmoid(self.decoder_logits(params, 0, zs[0]))
    return jax.vmap(one)(jax.random.split(key, num_samples))

  def encode(self, params: Params, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of the top layer's units under q, lower layers fed their means."""
    h = x
    for l in range(self.num_layers):
      h = self.probs(self.encoder_logits(params, l, h))
    return h, jnp.sqrt(h * (1 - h))

  def decode(self, params: Params, z: ArrayLike) -> jax.Array:
    """p(x | .)'s logits [D] given the top layer z_L, lower layers at their means."""
    h = z
    for l in reversed(range(1, self.num_layers)):
      h = self.probs(self.decoder_logits(params, l, h))
    return self.decoder_logits(params, 0, h)


ARCHITECTURES = ('sbn_linear', 'sbn_nonlinear', 'categorical')
SBN_LAYERS = 3  # Mnih & Rezende's 200-200-200
NONLINEAR_HIDDEN = 2  # tanh layers between stochastic layers, as wide as them
CATEGORIES = 10
CATEGORICAL_HIDDEN = (512, 256)  # Jang et al.'s encoder (decoder reversed)


def make_model(architecture: str, latent_dim: int,
               image_shape: tuple[int, int, int] = networks.MNIST_SHAPE,
               likelihood: str = 'bernoulli') -> DiscreteVAE:
  """sbn_linear: SBN_LAYERS Bernoulli layers of latent_dim units, linear nets;
  sbn_nonlinear: the same with NONLINEAR_HIDDEN tanh layers of latent_dim units in every
  net; categorical: latent_dim variables of CATEGORIES categories, CATEGORICAL_HIDDEN MLPs."""
  if likelihood != 'bernoulli':
    raise UserError(f'architecture {architecture!r} models binary images: likelihood must '
                    f"be 'bernoulli', got {likelihood!r}")
  image_shape = tuple(int(n) for n in image_shape)
  if architecture == 'sbn_linear':
    return DiscreteVAE((latent_dim,) * SBN_LAYERS, (), 2, image_shape)
  if architecture == 'sbn_nonlinear':
    return DiscreteVAE((latent_dim,) * SBN_LAYERS, (latent_dim,) * NONLINEAR_HIDDEN, 2,
                       image_shape)
  if architecture == 'categorical':
    return DiscreteVAE((latent_dim,), CATEGORICAL_HIDDEN, CATEGORIES, image_shape)
  raise UserError(f'unknown architecture {architecture!r}; choose one of {ARCHITECTURES}')
