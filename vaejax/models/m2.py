"""Kingma et al.'s (2014) M2: a VAE with a class y beside the latent z, and its bounds.

  q(y | x) = Cat(softmax(classifier(x)))            the classifier
  q(z | x, y) = N(mean, diag(std^2)) of [x, y]      the encoder
  p(x | y, z) = a vaejax likelihood of [z, y]       the decoder
  p(y) = 1 / C,  p(z) = N(0, I)

With log w_k(x, y) = log p(x | y, z_k) + log p(y) + log p(z_k) - log q(z_k | x, y) and
z_k ~ q(z | x, y), the labelled bound L(x, y) is an objective of vaejax/bounds/objectives.py
over the K log weights (vae: their mean, the ELBO; iwae: log of their mean weight), and the
unlabelled bound sums it exactly over the classes: U(x) = sum_y q(y | x) (L(x, y) - log q(y | x)).
Every network is an MLP of vaejax/models/networks.py with softplus hidden units (Kingma et
al.'s), y enters as a one-hot vector (ConditionalMLP), and every function takes one example;
batches and samples are added with vmap.
"""

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import ml_collections

from vaejax.logpx import importance
from vaejax.models import distributions
from vaejax.models import likelihoods
from vaejax.models.networks import MLP, Params

ARCHITECTURES = ('m2', 'm1m2')  # M2 of images, M2 of an M1 run's latent means.

class ConditionalMLP(nn.Module):
  """An MLP of [x, one_hot(y)] with softplus hidden units, its first layer computed as
  W_x x + W_y[y] + b: under a vmap over the classes y, W_x x is computed once."""
  hidden: tuple[int, ...]
  features: int
  num_classes: int
  output_bias_init: Any = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
    shape = (x.shape[-1] + self.num_classes, self.hidden[0])
    kernel = self.param('kernel', nn.initializers.glorot_uniform(), shape)
    bias = self.param('bias', nn.initializers.zeros, shape[1:])
    h = jax.nn.softplus(x @ kernel[:x.shape[-1]] + jnp.take(kernel, x.shape[-1] + y, axis=0)
                        + bias)
    return MLP(self.hidden[1:], self.features, self.output_bias_init,
               activation=jax.nn.softplus)(h)


Bound = Callable[[jax.Array], jax.Array]  # log weights [K] -> a bound (objectives.Objective.value)


@dataclasses.dataclass(frozen=True)
class M2:
  """M2's architecture; its methods are pure functions of a params pytree.

  Attributes:
    num_classes: C.
    latent_dim: the size of z.
    hidden: the hidden widths of each of the three networks.
    num_inputs: D, the size of a flattened input x.
    likelihood: p(x | y, z): a vaejax.likelihoods likelihood (Normal for M1 features).
  """
  num_classes: int
  latent_dim: int
  hidden: tuple[int, ...]
  num_inputs: int
  likelihood: Any = likelihoods.Bernoulli()

  def _nets(self, output_bias_init=nn.initializers.zeros) -> dict[str, nn.Module]:
    act = jax.nn.softplus
    return {'classifier': MLP(self.hidden, self.num_classes, activation=act),
            'encoder': ConditionalMLP(self.hidden, 2 * self.latent_dim, self.num_classes),
            'decoder': ConditionalMLP(self.hidden, self.num_inputs, self.num_classes,
                                      output_bias_init)}

  def init(self, key: jax.Array, data_mean: ArrayLike,
           data_scale: ArrayLike | None = None) -> Params:
    """Glorot-uniform weights; the decoder's output bias fits the data's mean [D] (its logit
    for the image likelihoods, the mean itself for Normal). Likelihoods with a scale add
    params['decoder']['log_scale'] [D], as the VAE's, starting at log data_scale [D] if given
    (Normal: the features' spread), else at likelihoods.INIT_LOG_SCALE."""
    data_mean = jnp.asarray(data_mean, jnp.float32)
    if isinstance(self.likelihood, likelihoods.Normal):
      bias = data_mean
    else:
      bias = jax.scipy.special.logit(jnp.clip(data_mean, 0.001, 0.999))
    nets = self._nets(lambda *_: bias)
    inputs = {'classifier': (jnp.zeros(self.num_inputs),),
              'encoder': (jnp.zeros(self.num_inputs), 0),
              'decoder': (jnp.zeros(self.latent_dim), 0)}
    keys = dict(zip(nets, jax.random.split(key, len(nets))))
    params = {name: net.init(keys[name], *inputs[name])['params']
              for name, net in nets.items()}
    if self.likelihood.has_scale:
      params['decoder']['log_scale'] = (
          jnp.full(self.num_inputs, likelihoods.INIT_LOG_SCALE) if data_scale is None
          else jnp.log(jnp.asarray(data_scale, jnp.float32)))
    return params

  def _apply(self, name: str, params: Params, *inputs) -> jax.Array:
    net_params = {k: v for k, v in params[name].items() if k != 'log_scale'}
    return self._nets()[name].apply({'params': net_params}, *inputs)

  def class_logits(self, params: Params, x: ArrayLike) -> jax.Array:
    """The classifier's logits [C] for one input x [D]; log q(y | x) = log_softmax of them."""
    return self._apply('classifier', params, jnp.asarray(x))

  def encode(self, params: Params, x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of q(z | x, y), each [latent_dim], for one input and an integer class."""
    mean, log_std = jnp.split(self._apply('encoder', params, jnp.asarray(x), y), 2)
    return mean, jnp.exp(log_std)

  def decode(self, params: Params, z: ArrayLike, y: ArrayLike) -> jax.Array:
    """The decoder's output [D] (Bernoulli: logits) for one latent z and an integer class."""
    return self._apply('decoder', params, jnp.asarray(z), y)

  def log_weight(self, params: Params, x: ArrayLike, y: ArrayLike, key: jax.Array) -> jax.Array:
    """One draw z ~ q(z | x, y) and its log weight log p(x, y, z) - log q(z | x, y)."""
    mean, std = self.encode(params, x, y)
    z = mean + std * jax.random.normal(key, mean.shape, mean.dtype)
    log_px = self.likelihood.log_prob(x, self.decode(params, z, y),
                                     params['decoder'].get('log_scale'))
    return (log_px - jnp.log(self.num_classes) + distributions.standard_normal_log_prob(z)
            - distributions.gaussian_log_prob(z, mean, std))

  def log_weights(self, params: Params, x: ArrayLike, y: ArrayLike, key: jax.Array,
                  num_samples: int) -> jax.Array:
    """log w_k(x, y) of num_samples draws: an array [K]."""
    return jax.vmap(self.log_weight, in_axes=(None, None, None, 0))(
        params, x, y, jax.random.split(key, num_samples))

  def labelled_bound(self, params: Params, x: ArrayLike, y: ArrayLike, key: jax.Array,
                     bound: Bound, num_samples: int) -> jax.Array:
    """L(x, y): the bound of K log weights."""
    return bound(self.log_weights(params, x, y, key, num_samples))

  def class_bounds(self, params: Params, x: ArrayLike, key: jax.Array, bound: Bound,
                   num_samples: int) -> jax.Array:
    """L(x, y) for every class y: an array [C], one pass over [C, K] draws.

    The classes share the K noise draws (common random numbers), each L(x, y) with its own
    q(z | x, y).
    """
    classes = jnp.arange(self.num_classes)
    return jax.vmap(self.labelled_bound, in_axes=(None, None, 0, None, None, None))(
        params, x, classes, key, bound, num_samples)

  def unlabelled_bound(self, params: Params, x: ArrayLike, key: jax.Array, bound: Bound,
                       num_samples: int, x_classifier: ArrayLike | None = None) -> jax.Array:
    """U(x) = sum_y q(y | x) (L(x, y) - log q(y | x)), summed exactly over the C classes.

    x_classifier: what q(y | x) sees, if not x (e.g. the grey levels of a binarized x).
    """
    log_q = jax.nn.log_softmax(self.class_logits(params, x if x_classifier is None
                                                 else x_classifier))
    return jnp.sum(jnp.exp(log_q) * (self.class_bounds(params, x, key, bound, num_samples)
                                     - log_q))

  def log_likelihood(self, params: Params, x: ArrayLike, key: jax.Array, num_samples: int,
                     chunk_size: int = 100) -> jax.Array:
    """Importance-sampled log p(x) = logsumexp_y log p(x, y), each p(x, y) the mean of K
    weights (a stochastic lower bound; exact as K grows), chunk_size samples at a time so
    that memory does not grow with K. Sample j is drawn with fold_in(key, j) for every
    class."""
    classes = jnp.arange(self.num_classes)
    log_weights = jax.vmap(jax.vmap(self.log_weight, in_axes=(None, None, None, 0)),
                           in_axes=(None, None, 0, None))  # [C, chunk]
    log_p_xy = importance.logmeanexp_in_chunks(
        lambda keys: log_weights(params, x, classes, keys).T, key, num_samples, chunk_size)
    return jax.nn.logsumexp(log_p_xy)

  def sample(self, params: Params, key: jax.Array, labels: ArrayLike) -> jax.Array:
    """The decoder's outputs [N, D] for z ~ p(z) and the given integer labels [N]."""
    labels = jnp.asarray(labels)
    z = jax.random.normal(key, (labels.shape[0], self.latent_dim))
    return jax.vmap(self.decode, in_axes=(None, 0, 0))(params, z, labels)


def make_model(config: ml_collections.ConfigDict, num_inputs: int, num_classes: int) -> M2:
  """The M2 of a semi-supervised config: of images with the config's likelihood (m2), or of
  M1 features with a Normal likelihood (m1m2)."""
  likelihood = (likelihoods.Normal() if config.architecture == 'm1m2'
                else likelihoods.make_likelihood(config.likelihood))
  return M2(num_classes, config.latent_dim, (config.hidden_units,), num_inputs, likelihood)


def _is_params(tree: Any) -> bool:
  """Whether tree is shaped as M2's parameters (or the optimizer's moments of them)."""
  return isinstance(tree, dict) and 'classifier' in tree and 'decoder' in tree


def in_old_layout(tree: Any) -> bool:
  """Whether tree (a state, its params, or orbax's metadata of them) holds M2 parameters as
  runs from before kept them: the decoder's log scale at params['log_scale']."""
  return any(_is_params(t) and 'log_scale' in t
             for t in jax.tree.leaves(tree, is_leaf=_is_params))


def from_old_layout(tree: Any) -> Any:
  """tree with every M2 params-shaped part (the parameters, the optimizer's moments of them)
  moved from the old layout to params['decoder']['log_scale']; the rest as it is."""
  def nest(t):
    if not (_is_params(t) and 'log_scale' in t):
      return t
    rest = {k: v for k, v in t.items() if k != 'log_scale'}
    return {**rest, 'decoder': {**t['decoder'], 'log_scale': t['log_scale']}}
  return jax.tree.map(nest, tree, is_leaf=_is_params)


def to_old_layout(tree: Any) -> Any:
  """from_old_layout's inverse: the shape a checkpoint in the old layout is restored into."""
  def unnest(t):
    if not (_is_params(t) and 'log_scale' in t['decoder']):
      return t
    decoder = {k: v for k, v in t['decoder'].items() if k != 'log_scale'}
    return {**t, 'decoder': decoder, 'log_scale': t['decoder']['log_scale']}
  return jax.tree.map(unnest, tree, is_leaf=_is_params)
