"""Classifiers on a few labelled inputs, chosen on a validation set, and their error metrics.

`fit` trains multinomial logistic regression and MLPs (vaejax/models/vae.py's MLP, softplus hidden
units) with optax Adam on the full labelled batch, for every L2 penalty of a small grid at
once (a vmap over the penalties), keeps each one's parameters at its best validation error,
and returns the best of them all. Used for M1 (a probe of a VAE's latent means), for the same
probe on raw pixels, and for the supervised-only baseline of M2 (its classifier network on the
labelled images alone).
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vaejax.models.networks import MLP, Params

L2_PENALTIES = (0.0, 1e-4, 1e-3, 1e-2)
ECE_BINS = 15


class Classifier(NamedTuple):
  """A fitted classifier: its hidden widths (() is logistic regression), classes, L2
  penalty, parameters and validation error."""
  hidden: tuple[int, ...]
  num_classes: int
  l2: float
  params: Params
  validation_error: float

  @property
  def name(self) -> str:
    return 'logistic' if not self.hidden else 'mlp' + '-'.join(map(str, self.hidden))

  def logits(self, x: np.ndarray) -> np.ndarray:
    """Class logits [N, C] of inputs x [N, F]."""
    x = jnp.asarray(x, jnp.float32)
    return np.asarray(_logits(self.hidden, self.num_classes, self.params, x))


def _net(hidden: tuple[int, ...], num_classes: int) -> MLP:
  return MLP(hidden, num_classes, activation=jax.nn.softplus)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _logits(hidden, num_classes, params, x):
  return _net(hidden, num_classes).apply({'params': params}, x)


def error_rate(logits: np.ndarray, labels: np.ndarray) -> float:
  """The fraction of argmax(logits) [N, C] that differ from labels [N]."""
  return float(np.mean(np.argmax(logits, axis=-1) != labels))


def reliability(probs: np.ndarray, labels: np.ndarray,
                num_bins: int = ECE_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The reliability diagram's bins: equal-width bins of the top probability over [0, 1].

  Args:
    probs: class probabilities [N, C].
    labels: integer labels [N].
    num_bins: the number of bins.

  Returns:
    (confidence, accuracy, share), each [num_bins]: the mean top probability and the
    accuracy of the examples in each bin (NaN where it is empty), and its share of them.
  """
  confidence = probs.max(axis=-1)
  correct = np.argmax(probs, axis=-1) == labels
  bins = np.minimum((confidence * num_bins).astype(int), num_bins - 1)
  share = np.bincount(bins, minlength=num_bins) / len(bins)
  with np.errstate(invalid='ignore'):
    mean = lambda v: np.bincount(bins, v, minlength=num_bins) / (share * len(bins))
    return mean(confidence), mean(correct.astype(float)), share


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray,
                               num_bins: int = ECE_BINS) -> float:
  """ECE: sum over the reliability bins of |accuracy - confidence| * (bin's share)."""
  confidence, accuracy, share = reliability(probs, labels, num_bins)
  return float(np.nansum(np.abs(accuracy - confidence) * share))


@functools.partial(jax.jit, static_argnames=('hidden', 'num_classes', 'rounds', 'steps_per_round'))
def _train(x, y, x_val, y_val, key, penalties, *, hidden, num_classes, rounds, steps_per_round,
           learning_rate):
  """For each L2 penalty: Adam on the full batch, the params of the best validation error."""
  net = _net(hidden, num_classes)
  tx = optax.adam(learning_rate)

  def loss_fn(params, penalty):
    ce = optax.softmax_cross_entropy_with_integer_labels(net.apply({'params': params}, x), y)
    l2 = sum(jnp.sum(w * w) for w in jax.tree.leaves(params) if w.ndim == 2)
    return jnp.mean(ce) + 0.5 * penalty * l2

  def one(penalty, key):
    params = net.init(key, x[0])['params']

    def step(_, carry):
      params, opt_state = carry
      grads = jax.grad(loss_fn)(params, penalty)
      updates, opt_state = tx.update(grads, opt_state)
      return optax.apply_updates(params, updates), opt_state

    def round_(carry, _):
      params, opt_state, best, best_error = carry
      params, opt_state = jax.lax.fori_loop(0, steps_per_round, step, (params, opt_state))
      error = jnp.mean(jnp.argmax(net.apply({'params': params}, x_val), -1) != y_val)
      better = error < best_error
      best = jax.tree.map(lambda new, old: jnp.where(better, new, old), params, best)
      return (params, opt_state, best, jnp.minimum(error, best_error)), None

    init = (params, tx.init(params), params, jnp.array(jnp.inf, jnp.float32))
    (_, _, best, best_error), _ = jax.lax.scan(round_, init, None, length=rounds)
    return best, best_error

  keys = jax.random.split(key, penalties.shape[0])
  return jax.vmap(one)(penalties, keys)


def fit(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, key: jax.Array,
        hiddens: tuple[tuple[int, ...], ...] = ((), (500,)), steps: int = 2000,
        eval_every: int = 50, learning_rate: float = 1e-3,
        penalties: tuple[float, ...] = L2_PENALTIES) -> Classifier:
  """The classifier of least validation error over architectures, L2 penalties and steps.

  Args:
    x: labelled inputs [N, F] (scaled by the caller: pixels in [0, 1], standardized features).
    y: their labels [N] in 0..C-1; C is max(y_val) + 1.
    x_val: validation inputs [M, F].
    y_val: validation labels [M].
    key: initialization key (one per architecture is folded in).
    hiddens: hidden widths of each architecture tried; () is logistic regression.
    steps: full-batch Adam steps.
    eval_every: steps between validation checks (the kept parameters are the best checked).
    learning_rate: Adam's.
    penalties: L2 penalties (on the weight matrices) tried for each architecture.
  """
  num_classes = int(max(y.max(), y_val.max())) + 1
  args = [jnp.asarray(a, jnp.float32) for a in (x, x_val)]
  best = None
  for i, hidden in enumerate(hiddens):
    params, errors = _train(args[0], jnp.asarray(y), args[1], jnp.asarray(y_val),
                            jax.random.fold_in(key, i), jnp.asarray(penalties, jnp.float32),
                            hidden=tuple(hidden), num_classes=num_classes,
                            rounds=max(1, steps // eval_every), steps_per_round=eval_every,
                            learning_rate=learning_rate)
    errors = np.asarray(errors)
    j = int(np.argmin(errors))
    if best is None or errors[j] < best.validation_error:
      best = Classifier(tuple(hidden), num_classes, penalties[j],
                        jax.tree.map(lambda p: p[j], params),
                        float(errors[j]))
  return best


def probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
          s: Any, key: jax.Array, hiddens: tuple[tuple[int, ...], ...] = ((), (500,))) -> dict:
  """`fit` on the labelled rows of a training set, chosen on its validation rows, reported on
  the test set.

  Args:
    train_x: inputs [N, F] of the whole training set.
    train_y: its labels [N] (only the labelled and validation rows are read).
    test_x: test inputs [M, F].
    test_y: test labels [M].
    s: the splits.Splits of the training set.
    key: the classifiers' initialization key.
    hiddens: architectures to choose from.

  Returns:
    {'classifier', 'l2', 'validation_error', 'test_error', 'test_ece'}.
  """
  best = fit(train_x[s.labelled], train_y[s.labelled], train_x[s.validation],
             train_y[s.validation], key, hiddens)
  logits = best.logits(test_x)
  probs = np.asarray(jax.nn.softmax(logits))
  return {'classifier': best.name, 'l2': best.l2, 'validation_error': best.validation_error,
          'test_error': error_rate(logits, test_y),
          'test_ece': expected_calibration_error(probs, test_y)}
