"""vaejax.load(workdir): a trained run as a few pure-array methods, for notebooks."""

import dataclasses
import functools
import os
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.typing import ArrayLike

from vaejax import data
from vaejax import likelihoods
from vaejax import marginal
from vaejax import models
from vaejax import runs
from vaejax import semisupervised
from vaejax import splits
from vaejax import train
from vaejax.errors import UserError
from vaejax.m2 import M2
from vaejax.models import VAE, Params


@dataclasses.dataclass(frozen=True)
class Run:
  """A run's config, model and newest parameters. x is [N, D] (D = H * W * C of the run's
  images) with values in [0, 1].

  `model` is a VAE for unsupervised runs and an M2 for semi-supervised ones, whose inputs are
  the images (architecture m2) or an M1 run's latent means of them (m1m2: `inputs` maps
  images to them).
  """
  config: ml_collections.ConfigDict
  model: VAE | M2
  params: Params
  step: int
  inputs: Callable[[np.ndarray], np.ndarray] | None = None

  def _m2(self, what: str) -> M2:
    if not isinstance(self.model, M2):
      raise UserError(f'{what} needs a semi-supervised (M2) run; this run is an unsupervised '
                      f'{self.config.architecture} VAE with no classifier')
    return self.model

  def class_probs(self, x: ArrayLike) -> np.ndarray:
    """q(y | x) [N, C] of images x [N, D] in [0, 1]."""
    model = self._m2('class_probs')
    x = np.asarray(x, np.float32)
    return semisupervised.class_probs(model, self.params, self.inputs(x) if self.inputs else x)

  def classify(self, x: ArrayLike) -> np.ndarray:
    """The most probable class [N] of images x [N, D] in [0, 1]."""
    return np.argmax(self.class_probs(x), axis=-1)

  def encode(self, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of q(z | x), each [N, latent_dim]."""
    return models.encode_batch(self.model, self.params, jnp.asarray(x, jnp.float32))

  def decode(self, z: ArrayLike) -> jax.Array:
    """The decoder's outputs [N, D] given latents z [N, latent_dim] (Bernoulli: logits)."""
    return models.decode_batch(self.model, self.params, jnp.asarray(z, jnp.float32))

  def mean(self, z: ArrayLike) -> jax.Array:
    """The mean images [N, D] in [0, 1] given latents z [N, latent_dim]."""
    return likelihoods.mean(self.decode(z))

  def log_likelihood(self, x: ArrayLike, key: jax.Array, method: str = 'is',
                     **options) -> jax.Array:
    """Per-example log p(x) in nats, [N], of x as the run's likelihood prepares it (binary
    for Bernoulli, dequantized for Gaussian, k / 255 for logistic).

    method: 'is' (importance sampling; num_samples=5000), 'ais' (num_steps, num_chains,
    num_leapfrog_steps, start='prior' | 'posterior', ...: vaejax/ais.py) or 'quadrature'
    (exact for a 2-D latent space; half_width, num_points). See marginal.log_likelihood.
    """
    x, key = _checked_images(x, self.model, key)
    return jnp.asarray(marginal.log_likelihood(self.model, self.params, x, key, method,
                                               **options))

  def sample(self, key: jax.Array, n: int, labels: ArrayLike | None = None) -> jax.Array:
    """n mean images [n, D] in [0, 1] of latents drawn from the prior; for an M2 run, of
    the classes `labels` [n] (default: 0, 1, ..., C - 1, 0, ...)."""
    if labels is None and not isinstance(self.model, M2):
      return _sample(self.model, self.params, key, n)
    model = self._m2('sample with labels')
    if self.inputs is not None:
      raise UserError('an m1m2 run models latent means, not images: sample from its M1 run')
    labels = np.arange(n) % model.num_classes if labels is None else np.asarray(labels)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() >= model.num_classes:
      raise UserError(f'labels must be {n} integers in 0..{model.num_classes - 1}')
    return likelihoods.mean(model.sample(self.params, key, labels))


def _checked_images(x: ArrayLike, model: VAE, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """x as the model's likelihood takes it, and a key for what follows; a one-line UserError
  for images it cannot score.

  uint8 images are prepared with the likelihood (Bernoulli: binarized) from a key split off
  `key`; floats must be in [0, 1], and binary for a Bernoulli model.
  """
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[1] != model.num_pixels:
    raise UserError(f'images must be [N, {model.num_pixels}] (N flattened '
                    f'{"x".join(map(str, model.image_shape))} images), got {list(x.shape)}')
  if x.dtype == np.uint8:
    prepare_key, key = jax.random.split(key)
    return model.likelihood.prepare(prepare_key, jnp.asarray(x)), key
  if np.isnan(x).any():
    raise UserError('images contain NaN')
  if x.min() < 0 or x.max() > 1:
    raise UserError(f'image values must be in [0, 1] (or uint8), got [{x.min()}, {x.max()}]')
  if model.likelihood.name == 'bernoulli' and not np.isin(x, (0, 1)).all():
    raise UserError('a Bernoulli model scores binary images: binarize them, or pass uint8 '
                    'images to be binarized with the run\'s likelihood and key')
  return jnp.asarray(x, jnp.float32), key


@functools.partial(jax.jit, static_argnums=(0, 3))
def _sample(model, params, key, n):
  return model.sample(params, key, n)


def load(workdir: str | os.PathLike, params: str = 'best', step: int | None = None) -> Run:
  """Restores a run's config and parameters.

  The images' shape comes from the run's run.json (runs from before it: from its dataset);
  an M2 run also reads its dataset for its classes, and an m1m2 run the M1 feature map saved
  in it.

  Args:
    workdir: the run directory.
    params: for a semi-supervised run, 'best' (default): the parameters of the least
      validation error, those its results report; or 'last': its newest checkpoint's.
      Unsupervised runs have only their newest checkpoint's.
    step: the checkpoint to restore instead (e.g. to follow how features change as a run
      trains); None: as `params` says.
  """
  if params not in ('best', 'last'):
    raise UserError(f"params must be 'best' or 'last', got {params!r}")
  config = runs.read_config(workdir)
  inputs = None
  if config.architecture in semisupervised.ARCHITECTURES:
    dataset = data.load(config.dataset, config.data_dir or None)
    num_inputs = dataset.train_images.shape[1]
    if config.architecture == 'm1m2':
      if not (pathlib.Path(workdir) / semisupervised.M1_FILE).exists():
        raise UserError(f'{workdir} is an m1m2 run from before M1 feature maps were saved in '
                        'the run directory: train it again')
      inputs = semisupervised.read_feature_map(str(workdir))[0]
      num_inputs = len(inputs.units)
    model = semisupervised.make_model(config, num_inputs,
                                      splits.num_classes(dataset.train_labels))
    best = (semisupervised.read_best_params(str(workdir))
            if params == 'best' and step is None else None)
    if best is not None:
      return Run(config, model, best[0], best[1], inputs)
  else:
    image_shape = runs.read_run_info(workdir).get('image_shape') or data.load(
        config.dataset, config.data_dir or None).image_shape
    model = train.model_from_config(config, tuple(image_shape))
  optimizer = train.make_optimizer(config, steps_per_epoch=1)
  num_inputs = model.num_inputs if isinstance(model, M2) else model.num_pixels
  objective = None if isinstance(model, M2) else train.objective_from_config(config)
  target = jax.eval_shape(lambda: train.init_state(model, optimizer, jax.random.key(0),
                                                   jnp.zeros(num_inputs), objective=objective))
  checkpoints = runs.Checkpoints(workdir)
  verified = checkpoints.verified_steps()
  if step is None and not verified:
    raise UserError(f'{workdir} holds no complete checkpoint yet')
  if step is not None and step not in verified:
    raise UserError(f'{workdir} holds no complete checkpoint at step {step}; it has {verified}')
  step = max(verified) if step is None else step
  state = checkpoints.restore(step, target)
  checkpoints.close()
  return Run(config, model, state.params, step, inputs)
