"""Annealed importance sampling (AIS) of log p(x), and bidirectional Monte Carlo (BDMC).

AIS (Neal 2001), as Wu, Burda, Salakhutdinov & Grosse (2017) evaluate decoder-based models:
for one image x, chains start at z ~ p_0 (the prior p(z), or q(z | x)) and move along the
geometric path f_t(z) = p_0(z)^(1 - beta_t) p(x, z)^beta_t, beta_0 = 0 < ... < beta_T = 1
(a sigmoid schedule), each step adding (beta_t - beta_{t-1}) (log p(x, z) - log p_0(z)) to
the chain's log weight and then moving z by one HMC trajectory of L leapfrog steps that
leaves f_t invariant (blackjax's HMC kernel). E[w] = p(x), so logmeanexp over chains of the
log weights is a stochastic lower bound on log p(x), tight as T grows.

The HMC step size is tuned per image and per beta_t in a first pass (multiplied by 1.02
after a step whose mean acceptance over the chains exceeds 0.65, by 0.98 otherwise, as Wu
et al.), then frozen while the estimate is drawn again with fresh keys, so the estimate is
an AIS estimate with a fixed kernel sequence.

BDMC (Grosse, Ghahramani & Adams 2015): on x simulated from the model with its latent z,
reverse AIS started at that exact posterior sample (beta from 1 down to 0) estimates
1 / p(x) without bias, so minus its logmeanexp is a stochastic upper bound on log p(x); with
forward AIS's lower bound it brackets log p(x), the gap shrinking to 0 as T grows.
"""

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from vaejax.errors import UserError
from vaejax.models import latents
from vaejax.models.likelihoods import Bernoulli
from vaejax.models.vae import VAE, Params

STARTS = ('prior', 'posterior')
STEP_SIZE_UP, STEP_SIZE_DOWN = 1.02, 0.98
MIN_STEP_SIZE, MAX_STEP_SIZE = 1e-4, 0.5


class Options(NamedTuple):
  """AIS settings (static: they fix the compiled program's shapes).

  Attributes:
    num_steps: T, the number of intermediate distributions (and of HMC trajectories).
    num_chains: independent chains per image.
    num_leapfrog_steps: L, leapfrog steps per HMC trajectory.
    start: 'prior' (p_0 = p(z)) or 'posterior' (p_0 = q(z | x)).
    initial_step_size: the tuning pass's first HMC step size.
    target_acceptance: the acceptance rate the tuning pass steers towards.
  """
  num_steps: int = 1000
  num_chains: int = 16
  num_leapfrog_steps: int = 10
  start: str = 'prior'
  initial_step_size: float = 0.05
  target_acceptance: float = 0.65


class Path(NamedTuple):
  """One image's path: log p_0(z) (normalized), a draw z ~ p_0 (key -> z), log p(x, z)."""
  log_start: Callable[[jax.Array], jax.Array]
  sample_start: Callable[[jax.Array], jax.Array]
  log_joint: Callable[[jax.Array], jax.Array]


class VAEPath(NamedTuple):
  """(params, x) -> Path of a VAE over its flat latents (vaejax/models/latents.py)."""
  model: VAE
  start: str = 'prior'

  def __call__(self, params: Params, x: jax.Array) -> Path:
    model = self.model
    if self.start == 'prior':
      log_start = functools.partial(latents.log_prior, model, params)
      sample_start = functools.partial(latents.sample_prior, model, params)
    else:
      log_start = functools.partial(latents.log_posterior, model, params, x)
      sample_start = functools.partial(latents.sample_posterior, model, params, x)
    return Path(log_start, sample_start, functools.partial(latents.log_joint, model, params, x))


def check(options: Options) -> None:
  """Raises a UserError for settings AIS cannot run with."""
  for name in ('num_steps', 'num_chains', 'num_leapfrog_steps'):
    if getattr(options, name) < 1:
      raise UserError(f'AIS {name} must be at least 1, got {getattr(options, name)}')
  if options.start not in STARTS:
    raise UserError(f'unknown AIS start {options.start!r}; choose one of {STARTS}')


def sigmoid_schedule(num_steps: int, sharpness: float = 4.0) -> jax.Array:
  """beta_0 = 0 < ... < beta_T = 1 [T + 1]: sigmoid(sharpness (2t / T - 1)), rescaled to
  [0, 1]; dense near both ends (Grosse et al. 2015, Wu et al. 2017)."""
  s = jax.nn.sigmoid(sharpness * jnp.linspace(-1.0, 1.0, num_steps + 1))
  return (s - s[0]) / (s[-1] - s[0])


def _anneal(path: Path, betas_T1: jax.Array, z_CxZ: jax.Array, key: jax.Array,
            step_sizes_T: jax.Array | None, options: Options):
  """Moves chains z [C, Z] along betas [T + 1]; tunes the step size if step_sizes_T is None.

  Returns:
    (log_w [C], the last z [C, Z], the step sizes [T] used, mean acceptance rates [T]).
  """
  # Imported here: importing blackjax runs JAX operations, which would start JAX's backends
  # before a script could configure them (jax.distributed.initialize, jax_num_cpu_devices).
  from blackjax.mcmc import hmc  # pylint: disable=g-import-not-at-top
  kernel = hmc.build_kernel()
  inverse_mass_matrix = jnp.ones(z_CxZ.shape[-1], z_CxZ.dtype)
  values_and_grads = lambda f, z_CxZ: jax.vmap(jax.value_and_grad(f))(z_CxZ)
  tune = step_sizes_T is None

  def step(carry, inputs):
    z_CxZ, log_w_C, step_size = carry
    beta_prev, beta, key, frozen_step_size = inputs
    step_size = step_size if tune else frozen_step_size
    log_start_C, grad_start_CxZ = values_and_grads(path.log_start, z_CxZ)
    log_joint_C, grad_joint_CxZ = values_and_grads(path.log_joint, z_CxZ)
    log_w_C = log_w_C + (beta - beta_prev) * (log_joint_C - log_start_C)
    # f_beta's state from the two parts' values and gradients, computed once for both uses.
    state = hmc.HMCState(
        z_CxZ, (1 - beta) * log_start_C + beta * log_joint_C,
        (1 - beta) * grad_start_CxZ + beta * grad_joint_CxZ)
    log_f = lambda z: (1 - beta) * path.log_start(z) + beta * path.log_joint(z)
    move = lambda k, s: kernel(k, s, log_f, step_size, inverse_mass_matrix,
                               options.num_leapfrog_steps)
    state, info = jax.vmap(move)(jax.random.split(key, z_CxZ.shape[0]), state)
    acceptance = jnp.mean(info.acceptance_rate)
    factor = jnp.where(acceptance > options.target_acceptance, STEP_SIZE_UP, STEP_SIZE_DOWN)
    next_step_size = jnp.clip(step_size * factor, MIN_STEP_SIZE, MAX_STEP_SIZE)
    return (state.position, log_w_C, next_step_size), (step_size, acceptance)

  num_steps = betas_T1.shape[0] - 1
  if tune:
    step_sizes_T = jnp.zeros(num_steps)
  init = (z_CxZ, jnp.zeros(z_CxZ.shape[0]), jnp.asarray(options.initial_step_size, jnp.float32))
  inputs = (betas_T1[:-1], betas_T1[1:], jax.random.split(key, num_steps), step_sizes_T)
  (z_CxZ, log_w_C, _), (step_sizes_T, acceptance_T) = jax.lax.scan(step, init, inputs)
  return log_w_C, z_CxZ, step_sizes_T, acceptance_T


def _logmeanexp(a: jax.Array) -> jax.Array:
  return jax.nn.logsumexp(a) - math.log(a.shape[0])


def _one_image(path_fn, params, x, key, options: Options, z_true=None) -> dict[str, jax.Array]:
  """Forward AIS of one image (and reverse AIS from z_true, if given): see estimate / bdmc."""
  path = path_fn(params, x)
  betas = sigmoid_schedule(options.num_steps)
  tune_key, tune_start_key, start_key, forward_key, reverse_key = jax.random.split(key, 5)
  starts = lambda k: jax.vmap(path.sample_start)(jax.random.split(k, options.num_chains))
  _, _, step_sizes, _ = _anneal(path, betas, starts(tune_start_key), tune_key, None, options)
  log_w, _, _, acceptance = _anneal(path, betas, starts(start_key), forward_key, step_sizes,
                                    options)
  out = {'log_px': _logmeanexp(log_w), 'acceptance': jnp.mean(acceptance),
         'final_step_size': step_sizes[-1]}
  if z_true is not None:
    # Transition t of the reverse chain targets beta_{T-t}, tuned at forward step T-t-1;
    # beta_0 (the last) had no tuned step: it takes beta_1's.
    reverse_step_sizes = jnp.concatenate([step_sizes[-2::-1], step_sizes[:1]])
    z_CxZ = jnp.broadcast_to(z_true, (options.num_chains,) + z_true.shape)
    log_w_reverse, _, _, _ = _anneal(path, betas[::-1], z_CxZ, reverse_key,
                                     reverse_step_sizes, options)
    out['upper'] = -_logmeanexp(log_w_reverse)
  return out


@functools.partial(jax.jit, static_argnums=(0, 4))
def _batch(path_fn, params, x_BxD, keys_B, options, z_true_BxZ):
  return jax.vmap(_one_image, in_axes=(None, None, 0, 0, None, 0))(
      path_fn, params, x_BxD, keys_B, options, z_true_BxZ)


def _by_batches(path_fn, params, x_NxD, keys_N, options, z_true_NxZ, batch_size, on_batch):
  """_batch over x in batches of batch_size images (the last padded), as numpy arrays [N]."""
  n = x_NxD.shape[0]
  batch_size = min(batch_size, n)
  padded = -(-n // batch_size) * batch_size
  pad = lambda a: jnp.concatenate([a, jnp.repeat(a[:1], padded - n, axis=0)])
  x_NxD, keys_N = pad(jnp.asarray(x_NxD, jnp.float32)), pad(keys_N)
  z_true_NxZ = None if z_true_NxZ is None else pad(z_true_NxZ)
  parts = []
  for i in range(0, padded, batch_size):
    z_true = None if z_true_NxZ is None else z_true_NxZ[i:i + batch_size]
    parts.append(jax.device_get(_batch(path_fn, params, x_NxD[i:i + batch_size],
                                       keys_N[i:i + batch_size], options, z_true)))
    if on_batch is not None:
      on_batch(min(i + batch_size, n))
  return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def _image_keys(key: jax.Array, n: int) -> jax.Array:
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))


def estimate(path_fn: Callable[[Params, jax.Array], Path], params: Params, x_NxD: ArrayLike,
             key: jax.Array, options: Options = Options(), batch_size: int = 20,
             on_batch: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
  """AIS estimates of log p(x) for images x [N, D], batch_size images at a time.

  Args:
    path_fn: (params, x) -> Path, static and hashable (e.g. VAEPath(model, start)).
    params: the model's parameters.
    x_NxD: images as the model's likelihood prepares them.
    key: image i uses fold_in(key, i), so results do not depend on batch_size.
    options: AIS settings.
    batch_size: images per compiled call; memory is bounded by it, not by N.
    on_batch: called with the number of images done after each batch (progress reports).

  Returns:
    Arrays [N]: 'log_px', logmeanexp over chains of the AIS log weights (a stochastic lower
    bound on log p(x)); 'acceptance', the HMC acceptance rate of the estimate's pass;
    'final_step_size', the tuned step size at beta = 1.
  """
  check(options)
  keys = _image_keys(key, np.shape(x_NxD)[0])
  return _by_batches(path_fn, params, x_NxD, keys, options, None, batch_size, on_batch)


def log_likelihood(model: VAE, params: Params, x_NxD: ArrayLike, key: jax.Array,
                   options: Options = Options(), batch_size: int = 20,
                   on_batch: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
  """estimate() for a VAE (one or two stochastic layers) over its joint latents."""
  return estimate(VAEPath(model, options.start), params, x_NxD, key, options, batch_size,
                  on_batch)


def simulate(model: VAE, params: Params, key: jax.Array,
             num_images: int) -> tuple[jax.Array, jax.Array]:
  """Images drawn from a Bernoulli model with their latents: (x [N, D] binary, z [N, Z])."""
  if not isinstance(model.likelihood, Bernoulli):
    raise UserError(f'BDMC simulates binary images: it needs the bernoulli likelihood, '
                    f'not {model.likelihood.name}')

  def one(key):
    z_key, x_key = jax.random.split(key)
    z = latents.sample_prior(model, params, z_key)
    logits = model.decoder_layer(params, 0, latents.split(model, z)[0])
    return jax.random.bernoulli(x_key, jax.nn.sigmoid(logits)).astype(jnp.float32), z

  return jax.jit(jax.vmap(one))(jax.random.split(key, num_images))


def bdmc(path_fn: Callable[[Params, jax.Array], Path], params: Params, x_NxD: ArrayLike,
         z_true_NxZ: ArrayLike, key: jax.Array, options: Options = Options(),
         batch_size: int = 20,
         on_batch: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
  """BDMC bounds on log p(x) of images x [N, D] simulated with latents z_true [N, Z].

  Returns:
    estimate()'s arrays, 'log_px' being forward AIS's stochastic lower bound, plus 'upper',
    reverse AIS's stochastic upper bound, started at z_true with the same tuned step sizes.
  """
  check(options)
  keys = _image_keys(key, np.shape(x_NxD)[0])
  return _by_batches(path_fn, params, x_NxD, keys, options, jnp.asarray(z_true_NxZ),
                     batch_size, on_batch)
