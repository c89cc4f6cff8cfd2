"""Gradient estimators that do without the reparameterization trick (REFERENCE.md, section 7).

The generative network always takes the gradient of its bound, sum_k c_k grad log p(x, z_k)
with the objective's weights c (for IWAE the normalized weights w~_k); the estimators differ
in the inference network's gradient. With z drawn without a gradient path (discrete latents,
or a Gaussian's z under stop_gradient), the bound L(log w_1..K)'s gradient is

  grad_phi E[L] = E[ sum_k a_k grad_phi log q(z_k | x) ],  a_k = s_k - dL/dlog w_k,

where s_k is sample k's learning signal (the score-function part, minus a baseline that does
not depend on z_k) and -dL/dlog w_k the part through log w_k = log p - log q. All of them are
one forward pass and one backward pass with cotangents on (log p, log q):

  score     s_k = L - c, c a running mean of L (BASELINE_DECAY), the same for every k
  nvil      s_k = (L - c - b(x)), with b a learned MLP of x (one tanh layer of
            BASELINE_HIDDEN) trained on (L - c - b(x))^2, and the whole a divided by
            max(1, sqrt(v)), v a running variance of L - c - b(x) (Mnih & Gregor 2014)
  vimco     s_k = L - L_{-k}, L_{-k} the bound with log w_k replaced by the mean of the other
            log weights (Mnih & Rezende 2016); the IWAE bound only, K >= 2
  rws_wake  a_k = w~_k: the self-normalized importance-sampling estimate of
            -grad KL(p(z | x) || q(z | x)) (Bornschein & Bengio 2015; Le et al. 2019)
  rws_sleep a = 0 here; the inference network instead ascends the mean log q(z | x) at B * K
            draws (z, x) of the model itself

Baselines and running moments come from earlier steps (never from this step's draws), so
score and nvil are unbiased for the objective's gradient (nvil up to its positive factor).
The relaxed estimators need discrete latents (vaejax/models/discrete.py):

  concrete          the encoder ascends the bound of the Concrete-relaxed draws at the
                    current temperature (Maddison et al. 2017; Jang et al. 2017)
  straight_through  the discrete draws forward, the relaxed draws' gradient backward

The estimator's own parameters and running statistics live in params['estimator']: NVIL's
network (trained by the optimizer like any parameter), the running moments and the
temperature (zero gradients; each step replaces them with the values `loss_grads_and_state`
returns), so checkpoints and resumption carry them.
"""

import functools
import math

import jax
import jax.numpy as jnp

from vaejax.bounds.objectives import REPARAMETERIZED, Objective
from vaejax.errors import UserError
from vaejax.models import networks

Params = networks.Params
SCORE = ('score', 'nvil', 'vimco', 'rws_wake', 'rws_sleep')
RELAXED = ('concrete', 'straight_through')
NAMES = SCORE + RELAXED
BASELINE_DECAY = 0.8  # NVIL's moving averages: c <- 0.8 c + 0.2 (batch mean)
BASELINE_HIDDEN = 100  # NVIL's input-dependent baseline: one hidden layer of 100 tanh units
_STATE_KEY = 1  # params['estimator'] is drawn from fold_in(init key, _STATE_KEY)


def fitting(model) -> tuple[str, ...]:
  """The gradient estimators defined for model's latents."""
  if model.reparameterizable:
    return REPARAMETERIZED + ('score', 'nvil', 'vimco', 'rws_wake')
  return NAMES


def check(objective: Objective, model, architecture: str) -> None:
  """A one-line UserError where objective's estimator is not defined for it or for model."""
  estimator = objective.estimator
  if estimator not in fitting(model):
    what = ('reparameterizable (Gaussian) latents' if estimator in REPARAMETERIZED
            else 'discrete latents' if estimator in RELAXED
            else "samples of the model's p(x | z), which only the discrete models draw")
    raise UserError(f'gradient_estimator {estimator!r} needs {what}; architecture '
                    f'{architecture!r} fits {", ".join(fitting(model))}')
  if estimator in ('vimco', 'rws_wake', 'rws_sleep') and objective.name != 'iwae':
    raise UserError(f'gradient_estimator {estimator!r} is defined for the IWAE bound: set '
                    f'objective=iwae (got {objective.name!r})')
  if estimator == 'vimco' and objective.num_samples < 2:
    raise UserError("gradient_estimator 'vimco' needs K >= 2 (its baselines leave one sample "
                    "out); at K = 1 use 'score' or 'nvil'")


def _baseline_net() -> networks.MLP:
  return networks.MLP((BASELINE_HIDDEN,), 1)


def init_state(objective: Objective, key: jax.Array, num_pixels: int) -> Params | None:
  """params['estimator'] at step 0 (None for estimators without parameters or state)."""
  zero = lambda: jnp.zeros((), jnp.float32)  # Distinct buffers: the train state is donated.
  if objective.estimator == 'score':
    return {'mean': zero()}
  if objective.estimator == 'nvil':
    net = _baseline_net().init(jax.random.fold_in(key, _STATE_KEY), jnp.zeros(num_pixels))
    return {'mean': zero(), 'var': zero(), 'net': net['params']}
  if objective.estimator in RELAXED:
    return {'temperature': jnp.asarray(objective.temperature, jnp.float32)}
  return None


def leave_one_out(logw: jax.Array) -> jax.Array:
  """VIMCO's L_{-k} [K] for one example's log weights [K] (K >= 2): the IWAE bound with
  log w_k replaced by the mean of the other K - 1 log weights."""
  k = logw.shape[0]
  others_mean = (jnp.sum(logw) - logw) / (k - 1)
  replaced = jnp.where(jnp.eye(k, dtype=bool), others_mean[:, None], logw[None, :])
  return jax.nn.logsumexp(replaced, axis=1) - math.log(k)


def _signal_weights(objective: Objective, logw: jax.Array, signal: jax.Array) -> jax.Array:
  """a [B, S] of the module doc from the log weights [B, S] and s ([B, 1] or [B, S])."""
  _, direct = jax.vmap(objective.gradient_weights)(logw)
  return signal - direct


def _terms(model, objective: Objective, params: Params, x: jax.Array, keys: jax.Array,
           **options) -> tuple[jax.Array, jax.Array]:
  """(log p(x, z_k), log q(z_k | x)), each [B, S], for S draws per example."""
  if model.reparameterizable:
    options = {'stop_z': True}

  def example(x, key):
    terms = jax.vmap(lambda k: model.log_weight_terms(params, x, k, **options))(
        jax.random.split(key, objective.total_samples))
    return terms['log_px_given_z'] + terms['log_pz'], terms['log_qz']

  return jax.vmap(example)(x, keys)


def _sleep_grads(model, params: Params, key: jax.Array, num_draws: int) -> Params:
  """The gradient of -mean log q(z | x) over num_draws draws (z, x) of the model."""
  zs, xs = jax.vmap(model.sample_joint, in_axes=(None, 0))(
      jax.lax.stop_gradient(params), jax.random.split(key, num_draws))
  loss = lambda encoder: -jnp.mean(jax.vmap(model.log_q, in_axes=(None, 0, 0))(
      {**params, 'encoder': encoder}, xs, zs))
  return jax.grad(loss)(params['encoder'])


def _score(model, objective: Objective, params: Params, x: jax.Array, key: jax.Array):
  batch_size = x.shape[0]
  keys = jax.random.split(key, batch_size + 1)
  estimator, state = objective.estimator, params.get('estimator')
  (logp, logq), pullback = jax.vjp(
      lambda p: _terms(model, objective, p, x, keys[:batch_size]), params)
  logw = jax.lax.stop_gradient(logp - logq)
  decoder_w, _ = jax.vmap(objective.gradient_weights)(logw)
  bound = jax.vmap(objective.encoder_value)(logw)
  new_state, baseline_grads, scale = state, None, 1.0
  if estimator == 'score':
    a = _signal_weights(objective, logw, (bound - state['mean'])[:, None])
    new_state = {'mean': BASELINE_DECAY * state['mean'] + (1 - BASELINE_DECAY) * jnp.mean(bound)}
  elif estimator == 'nvil':
    net = _baseline_net()
    baseline = lambda p: jax.vmap(lambda xb: net.apply({'params': p}, xb)[0])(x)
    residual = lambda p: bound - state['mean'] - baseline(p)
    centred = residual(state['net'])
    a = _signal_weights(objective, logw, centred[:, None])
    scale = 1.0 / jnp.maximum(1.0, jnp.sqrt(state['var']))
    baseline_grads = jax.grad(lambda p: jnp.mean(residual(p) ** 2))(state['net'])
    new_state = {
        'mean': BASELINE_DECAY * state['mean'] + (1 - BASELINE_DECAY) * jnp.mean(bound),
        'var': BASELINE_DECAY * state['var'] + (1 - BASELINE_DECAY) * jnp.mean(centred ** 2),
        'net': state['net']}
  elif estimator == 'vimco':
    a = _signal_weights(objective, logw, bound[:, None] - jax.vmap(leave_one_out)(logw))
  elif estimator == 'rws_wake':
    a = jax.nn.softmax(logw, axis=-1)
  else:
    a = jnp.zeros_like(logw)
  (grads,) = pullback((-decoder_w / batch_size, -scale * a / batch_size))
  if estimator == 'rws_sleep':
    grads = {**grads, 'encoder': _sleep_grads(model, params, keys[-1], logw.size)}
  if state is not None:
    grads['estimator'] = jax.tree.map(jnp.zeros_like, state)
    if baseline_grads is not None:
      grads['estimator']['net'] = baseline_grads
  return -jnp.mean(jax.vmap(objective.value)(logw)), grads, new_state


def _relaxed(model, objective: Objective, params: Params, x: jax.Array, key: jax.Array):
  batch_size = x.shape[0]
  keys = jax.random.split(key, batch_size)
  temperature = jax.lax.stop_gradient(params['estimator']['temperature'])
  weights = jax.vmap(objective.gradient_weights)
  logw_of = lambda relaxation: lambda p: jax.vmap(functools.partial(
      model.log_weights, p, num_samples=objective.total_samples, relaxation=relaxation,
      temperature=temperature))(x, keys)
  if objective.estimator == 'straight_through':
    logw, pullback = jax.vjp(logw_of('straight_through'), params)
    decoder_w, encoder_w = weights(logw)
    (grads,) = pullback(-decoder_w / batch_size)
    if not objective.shares_weights:
      grads = {**grads, 'encoder': pullback(-encoder_w / batch_size)[0]['encoder']}
  else:
    logw, pullback = jax.vjp(logw_of(None), params)
    (grads,) = pullback(-weights(logw)[0] / batch_size)
    relaxed_logw, relaxed_pullback = jax.vjp(logw_of('concrete'), params)
    encoder_w = weights(relaxed_logw)[1]
    grads = {**grads, 'encoder': relaxed_pullback(-encoder_w / batch_size)[0]['encoder']}
  grads['estimator'] = {'temperature': jnp.zeros_like(temperature)}
  new_state = {'temperature': jnp.maximum(
      objective.temperature_min, temperature * math.exp(-objective.temperature_decay))}
  return -jnp.mean(jax.vmap(objective.value)(logw)), grads, new_state


def loss_grads_and_state(model, objective: Objective, params: Params, x: jax.Array,
                         key: jax.Array) -> tuple[jax.Array, Params, Params | None]:
  """The batch's mean negative bound, the estimator's gradient and its next state.

  Args:
    model: a VAE (score, nvil, vimco, rws_wake) or a DiscreteVAE (all of NAMES).
    objective: the bound and one of NAMES as its estimator.
    params: parameters, with params['estimator'] where init_state gives one.
    x: images [B, D], as the model's likelihood prepares them.
    key: the batch's sampling key (one key per example is split from it).

  Returns:
    (loss, grads, state): -mean_b bound(x_b) of the discrete (unrelaxed) draws, a gradient
    pytree like params, and the next params['estimator'] (None where there is none).
  """
  if objective.estimator in RELAXED:
    return _relaxed(model, objective, params, x, key)
  return _score(model, objective, params, x, key)
