"""The training loop every trainer shares: the scanned epoch, resume, cadence, NaNs, progress.

A trainer (train.py for a VAE, train_m2.py for M2, sweep.py for many VAEs as one
program) brings its train_step, how step s gets its batch, its runs.RunDir(s) and its
evaluation; everything else is here, once:

  state = loop.resume([run])[0]          # the newest checkpoint that verifies, or a fresh state
  epoch = loop.make_train_epoch(train_step, epoch_data)
  results = loop.train([run], epoch, state, data, keys.data, keys.train)

Step s draws its randomness from fold_in(train_key, s) and epoch e's data from
(data_key, e), so a resumed run repeats an uninterrupted one exactly.
"""

import functools
import math
import time
from typing import Any, Callable, Sequence

from absl import logging
import jax
import numpy as np

from vaejax import runs

LOG_EVERY_SECONDS = 10
# epoch_data(data, data_key, epoch) -> (xs, batch): the epoch's per-step inputs xs [steps, ...]
# (e.g. batch indices) and batch(x, step) -> the batch train_step takes at that step.
EpochData = Callable[[Any, jax.Array, jax.Array], tuple[Any, Callable[[Any, jax.Array], Any]]]


def make_train_epoch(train_step: Callable, epoch_data: EpochData,
                     step_key: Callable = jax.random.fold_in) -> Callable:
  """A jitted epoch: every step of it in one lax.scan, the state donated.

  train_epoch(state, data, data_key, train_key, epoch) -> (state, metrics, each [steps, ...]).
  Step s calls train_step(state, batch(x_s, s), step_key(train_key, s)); a sweep passes a
  vmapped train_step and step_key, its states, keys and xs carrying a model axis.
  """

  @functools.partial(jax.jit, donate_argnums=0)
  def train_epoch(state, data, data_key, train_key, epoch):
    xs, batch = epoch_data(data, data_key, epoch)

    def body(state, x):
      return train_step(state, batch(x, state.step), step_key(train_key, state.step))

    return jax.lax.scan(body, state, xs)

  return train_epoch


def resume(members: Sequence[runs.RunDir]) -> list[Any]:
  """Each run's state at the newest step where every one of them has a checkpoint that
  verifies against its manifest (a fresh state where there is none).

  A checkpoint a kill cut off before its manifest, or a damaged one, is named in a log line
  (runs.Checkpoints.verified_steps) and never used: the runs resume from an earlier one, and
  drop what came after it.
  """
  common = set.intersection(*(set(r.checkpoints.verified_steps()) for r in members))
  step = max(common) if common else None
  return [r.start(step) for r in members]


def train(members: Sequence[runs.RunDir], train_epoch: Callable, state: Any, data: Any,
          data_key: jax.Array, train_key: jax.Array, stop_epoch: int | None = None,
          member_state: Callable[[Any, int], Any] | None = None) -> list[dict]:
  """Trains from the runs' start epoch to stop_epoch (default: the last), then evaluates.

  After each epoch every run records its mean loss, and evaluates and checkpoints when its
  config says (end_epoch). The loop ends with the final evaluation (results.json), or, before
  the last epoch, with a checkpoint at stop_epoch that a later call resumes from.

  Args:
    members: the run directories, all at the same start epoch (resume).
    train_epoch: make_train_epoch's function.
    state: the state train_epoch takes (for several members: theirs, stacked).
    data, data_key, train_key: train_epoch's other arguments.
    stop_epoch: stop after this many of the config's epochs (default: all of them).
    member_state: (state, n) -> member n's own state on the host, for several members
      trained as one program; None for one run, whose state is `state`.

  Returns:
    Each run's final metrics, {'step': s} where it stopped early, or, for several members,
    {'failed': the error} for one whose loss became NaN or infinite: that one stops alone.

  Raises:
    runs.Diverged: one run's loss became NaN or infinite (member_state None).
  """
  config = members[0].config
  stop = min(stop_epoch or config.num_epochs, config.num_epochs)
  own = member_state or (lambda state, n: state)
  progress = Progress(config.num_epochs,
                      len(members) * members[0].steps_per_epoch * config.batch_size)
  failures = {}
  try:
    for epoch in range(members[0].start_epoch, stop):
      if len(failures) == len(members):
        break
      start = time.monotonic()
      state, step_metrics = train_epoch(state, data, data_key, train_key, epoch)
      losses = np.asarray(step_metrics['loss'])
      seconds = time.monotonic() - start
      steps = np.asarray(state.step).reshape(-1)
      for n, run in enumerate(members):
        if n in failures:
          continue
        try:
          end_epoch(run, epoch, int(steps[n]), losses if member_state is None else losses[:, n],
                    seconds / len(members), functools.partial(own, state, n))
        except runs.Diverged as e:
          if member_state is None:
            raise
          logging.warning('%s', e)
          failures[n] = {'failed': str(e)}
          run.close()
      progress.epoch_done(epoch, int(steps[0]), float(losses.mean()), seconds)
    if stop < config.num_epochs:
      return [failures.get(n) or _stop(run, own(state, n)) for n, run in enumerate(members)]
    return [failures.get(n) or _finish(run, own(state, n).params)
            for n, run in enumerate(members)]
  finally:
    for run in members:
      run.close()


def _first_bad_step(losses: np.ndarray, first_step: int) -> int | None:
  bad = np.flatnonzero(~np.isfinite(losses))
  return None if bad.size == 0 else first_step + int(bad[0])


def end_epoch(run: runs.RunDir, epoch: int, step: int, losses: np.ndarray, seconds: float,
              get_state: Callable[[], Any]) -> None:
  """Records epoch `epoch`'s losses; evaluates and checkpoints when the config says so.

  get_state() gives the state after the epoch; it is called only when one of those needs it.

  Raises:
    runs.Diverged: a loss was NaN or infinite (recorded in error.json; the last good
      checkpoint is kept).
  """
  run.train_seconds += seconds
  config = run.config
  bad_step = _first_bad_step(losses, step - losses.size)
  if bad_step is not None:
    kept = run.checkpoints.latest_step()
    where = 'no checkpoint was saved yet' if kept is None else (
        f'the last good checkpoint (step {kept}) is kept in {run.checkpoints.directory}')
    error = (f'loss became {losses[bad_step - step + losses.size]} at step {bad_step} '
             f'(epoch {epoch + 1}); {where}')
    run.write_error(error, bad_step, kept)
    raise runs.Diverged(error)
  run.metrics.write('train', step, {'epoch': epoch + 1, 'loss': float(losses.mean())})
  last = epoch + 1 == config.num_epochs
  if config.eval_every_epochs > 0 and (epoch + 1) % config.eval_every_epochs == 0 and not last:
    run.metrics.write('test', step, run.evaluate(get_state().params, step))
  if last or (epoch + 1) % config.checkpoint_every_epochs == 0:
    run.save(step, get_state())


def _finish(run: runs.RunDir, params: Any) -> dict:
  """The final test metrics, computed once (a finished run's are read back)."""
  results = runs.read_results(run.workdir)
  if results is None or run.start_epoch < run.config.num_epochs:
    step = run.total_steps
    run.metrics.drop('final')  # Written by an attempt killed before results.json.
    results = {'step': step, **run.evaluate(params, step)}
    run.metrics.write('final', step, {k: v for k, v in results.items() if k != 'step'})
    results['train_seconds'] = run.train_seconds
    runs.write_results(run.workdir, results)
  return results


def _stop(run: runs.RunDir, state: Any) -> dict:
  """Ends a run before its last epoch, checkpointed at `state`'s step, which it resumes from."""
  step = int(state.step)
  if step not in run.checkpoints.all_steps():
    run.save(step, state)
  return {'step': step}


class Progress:
  """Logs step, loss, examples/s and time left, at most every LOG_EVERY_SECONDS."""

  def __init__(self, num_epochs: int, examples_per_epoch: int):
    self._num_epochs = num_epochs
    self._examples_per_epoch = examples_per_epoch
    self._epoch_seconds = []
    self._last_log = -math.inf

  def epoch_done(self, epoch: int, step: int, loss: float, seconds: float) -> None:
    self._epoch_seconds.append(seconds)
    last = epoch + 1 == self._num_epochs
    if not last and time.monotonic() - self._last_log < LOG_EVERY_SECONDS:
      return
    self._last_log = time.monotonic()
    # The first epoch of a process includes compilation: leave it out of the estimate.
    typical = np.median(self._epoch_seconds[1:] or self._epoch_seconds)
    logging.info('epoch %d/%d  step %d  loss %.3f  %.0f examples/s  %s left',
                 epoch + 1, self._num_epochs, step, loss, self._examples_per_epoch / seconds,
                 _duration(typical * (self._num_epochs - epoch - 1)))


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'
