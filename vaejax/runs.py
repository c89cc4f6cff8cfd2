"""Run directories: config.json, metrics.jsonl, TensorBoard events and orbax checkpoints.

A workdir describes its run completely: the config it was started with, one JSON line of
metrics per logged event, TensorBoard scalars, and checkpoints of the whole train state, from
which training resumes by itself.
"""

import hashlib
import json
import math
import os
import pathlib
import tempfile
import time
from typing import Any, Callable

from absl import logging
import jax
import matplotlib
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from tensorboardX import SummaryWriter

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from vaejax import sharding
from vaejax.configs import default
from vaejax.errors import UserError

CONFIG_FILE = 'config.json'
METRICS_FILE = 'metrics.jsonl'
RESULTS_FILE = 'results.json'
TRAIN_TIME_FILE = 'train_time.json'
CHECKPOINT_DIR = 'checkpoints'
PICTURES_DIR = 'pictures'
MANIFEST_FILE = 'vaejax_sha256.json'
LOG_EVERY_SECONDS = 10


def _config_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _saved_config(path: pathlib.Path) -> dict:
  """config.json, with the fields added to vaejax since it was written at their defaults
  (which keep the old behaviour), so that older runs still load and resume."""
  return {**_config_dict(default.get_config()), **json.loads(path.read_text())}


def read_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
  """The config a workdir's run was started with."""
  path = pathlib.Path(workdir) / CONFIG_FILE
  if not path.exists():
    raise UserError(f'{workdir} holds no run: {CONFIG_FILE} is missing')
  return ml_collections.ConfigDict(_saved_config(path))


def prepare_workdir(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
  """Creates workdir and writes config.json, or checks that it matches the run already there."""
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    tempfile.TemporaryFile(dir=path).close()
  except OSError as e:
    raise UserError(f'workdir {workdir} is not writable: {e.strerror}') from None
  new = _config_dict(config)
  config_path = path / CONFIG_FILE
  if config_path.exists():
    old = _saved_config(config_path)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
      diffs = ', '.join(f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in changed)
      raise UserError(f'workdir {workdir} holds a run with a different config ({diffs}); '
                      f'use a new --workdir or the same config')
  elif sharding.is_writer():
    config_path.write_text(json.dumps(new, indent=2, sort_keys=True) + '\n')


class MetricsLog:
  """metrics.jsonl (one JSON object a line) and TensorBoard scalars, side by side.

  In a multi-host job only process 0 writes; the others' writes do nothing.
  """

  def __init__(self, workdir: str | os.PathLike):
    self._path = pathlib.Path(workdir) / METRICS_FILE
    self._writer = SummaryWriter(str(workdir)) if sharding.is_writer() else None

  def records(self) -> list[dict]:
    if not self._path.exists():
      return []
    return [json.loads(line) for line in self._path.read_text().splitlines() if line]

  def truncate_after(self, step: int) -> None:
    """Drops the records of steps after `step`, those a resumed run will log again."""
    records = self.records()
    kept = [r for r in records if r['step'] <= step]
    if self._writer is not None and len(kept) < len(records):
      self._path.write_text(''.join(json.dumps(r) + '\n' for r in kept))

  def write(self, split: str, step: int, metrics: dict[str, Any]) -> None:
    """Appends {'split', 'step', **metrics} to metrics.jsonl; scalars also go to TensorBoard."""
    if self._writer is None:
      return
    with self._path.open('a') as f:
      f.write(json.dumps({'split': split, 'step': step, **metrics}) + '\n')
    for name, value in metrics.items():
      if isinstance(value, (int, float)):
        self._writer.add_scalar(f'{split}/{name}', value, step)
    self._writer.flush()

  def write_pictures(self, step: int, pictures: dict) -> None:
    """PNGs in workdir/pictures/<name>_<step>.png and TensorBoard images.

    Args:
      step: the training step they show.
      pictures: name -> a grey [H, W] or colour [H, W, 3] image in [0, 1], or a
        matplotlib figure.
    """
    if self._writer is None:
      plt.close('all')
      return
    folder = self._path.parent / PICTURES_DIR
    folder.mkdir(exist_ok=True)
    for name, picture in pictures.items():
      path = folder / f'{name}_{step}.png'
      if isinstance(picture, np.ndarray):
        plt.imsave(path, picture, cmap='gray', vmin=0.0, vmax=1.0)
        self._writer.add_image(f'pictures/{name}', picture, step,
                               dataformats='HWC' if picture.ndim == 3 else 'HW')
      else:
        picture.savefig(path, dpi=120)
        self._writer.add_figure(f'pictures/{name}', picture, step)  # Also closes it.
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


class Checkpoints:
  """Orbax checkpoints of a train state under workdir/checkpoints/<step>.

  Each finished checkpoint also gets a SHA-256 manifest of its files, checked before a
  restore, so a damaged checkpoint is named in one line instead of failing deep in orbax.
  """

  def __init__(self, workdir: str | os.PathLike, max_to_keep: int = 2):
    self.directory = pathlib.Path(workdir).absolute() / CHECKPOINT_DIR
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                                             create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def _files(self, step: int) -> dict[str, str]:
    step_dir = self.directory / str(step)
    unhashed = (MANIFEST_FILE, '_CHECKPOINT_METADATA')  # The latter orbax may rewrite.
    return {str(p.relative_to(step_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(step_dir.rglob('*')) if p.is_file() and p.name not in unhashed}

  def save(self, step: int, state: Any) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state))
    self._manager.wait_until_finished()
    if sharding.is_writer():
      manifest = self.directory / str(step) / MANIFEST_FILE
      partial = manifest.with_suffix('.tmp')
      partial.write_text(json.dumps(self._files(step), indent=1))
      partial.rename(manifest)  # Atomic: a manifest is whole or absent.

  def problem(self, step: int) -> str | None:
    """Why the checkpoint at `step` does not verify against its manifest (None: it does)."""
    try:
      expected = json.loads((self.directory / str(step) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
      return f'{MANIFEST_FILE} is missing or unreadable'
    actual = self._files(step)
    bad = sorted(f for f in expected.keys() | actual.keys() if expected.get(f) != actual.get(f))
    return f'{len(bad)} files missing or changed, e.g. {bad[0]}' if bad else None

  def verified_steps(self) -> list[int]:
    """The steps whose checkpoints verify, oldest first; each one that does not is logged.

    A kill between orbax's commit and the manifest, or a damaged file, leaves such a
    checkpoint: a run resumes from an earlier one instead (RunDir.start).
    """
    verified = []
    for step in self.all_steps():
      problem = self.problem(step)
      if problem is None:
        verified.append(step)
      else:
        logging.warning('checkpoint %s is incomplete or damaged (%s); it is not used.',
                        self.directory / str(step), problem)
    return sorted(verified)

  def discard_after(self, step: int | None) -> None:
    """Deletes the checkpoints after `step` (None: all), which a resumed run saves again."""
    if sharding.is_writer():
      for later in self.all_steps():
        if step is None or later > step:
          self._manager.delete(later)

  def restore(self, step: int, target: Any) -> Any:
    """The state saved at `step`, shaped like target; a one-line UserError if it is damaged."""
    problem = self.problem(step)
    if problem is None:
      try:
        return self._manager.restore(step, args=ocp.args.StandardRestore(target))
      except (ValueError, KeyError, FileNotFoundError) as e:
        problem = (str(e).splitlines() or [type(e).__name__])[0][:200]
    raise UserError(f'checkpoint {self.directory / str(step)} is corrupt or incomplete '
                    f'({problem})')

  def close(self) -> None:
    self._manager.close()


def write_train_seconds(workdir: str | os.PathLike, step: int, seconds: float) -> None:
  """Records the training time up to a checkpoint, so a resumed run counts all of it."""
  if not sharding.is_writer():
    return
  (pathlib.Path(workdir) / TRAIN_TIME_FILE).write_text(
      json.dumps({'step': step, 'seconds': seconds}) + '\n')


def read_train_seconds(workdir: str | os.PathLike, step: int) -> float:
  """The training time recorded at `step`'s checkpoint (0 if none was)."""
  path = pathlib.Path(workdir) / TRAIN_TIME_FILE
  record = json.loads(path.read_text()) if path.exists() else {}
  return record['seconds'] if record.get('step') == step else 0.0


def write_results(workdir: str | os.PathLike, results: dict) -> None:
  if not sharding.is_writer():
    return
  (pathlib.Path(workdir) / RESULTS_FILE).write_text(json.dumps(results, indent=2) + '\n')


def read_results(workdir: str | os.PathLike) -> dict | None:
  path = pathlib.Path(workdir) / RESULTS_FILE
  return json.loads(path.read_text()) if path.exists() else None


def _first_bad_step(losses: np.ndarray, first_step: int) -> int | None:
  bad = np.flatnonzero(~np.isfinite(losses))
  return None if bad.size == 0 else first_step + int(bad[0])


class RunDir:
  """A run directory's whole life while a trainer uses it: resume, per-epoch records,
  evaluations, checkpoints and the final results.

  The training loop belongs to the trainer (vaejax/train.py for one VAE, vaejax/sweep.py for
  many as one program, vaejax/semisupervised.py for M2); every run directory is the same
  whichever wrote it. A state is any pytree with `params` and `step` (train.TrainState).
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, steps_per_epoch: int,
               init_state: Callable[[], Any],
               evaluate: Callable[[Any, 'MetricsLog', int], dict]):
    """
    Args:
      config: the run's config (num_epochs, eval_every_epochs, checkpoint_every_epochs and
        max_checkpoints are read here).
      workdir: the run directory.
      steps_per_epoch: training steps in one epoch.
      init_state: () -> a fresh state, also the shape checkpoints are restored into.
      evaluate: (host params, metrics log, step) -> test metrics; it may write pictures.
    """
    prepare_workdir(workdir, config)
    self.config, self.workdir = config, workdir
    self.steps_per_epoch = steps_per_epoch
    self._init_state, self._evaluate = init_state, evaluate
    self.metrics = MetricsLog(workdir)
    self.checkpoints = Checkpoints(workdir, config.max_checkpoints)
    self.total_steps = config.num_epochs * steps_per_epoch
    self.train_seconds = 0.0
    self.start_epoch = 0

  def start(self, step: int | None) -> Any:
    """The state saved at checkpoint `step` (None: a fresh state); later records and
    checkpoints are dropped."""
    state = self._init_state()
    self.checkpoints.discard_after(step)
    if step is not None:
      state = self.checkpoints.restore(step, state)
      logging.info('%s: resumed from checkpoint at step %d.', self.workdir, step)
    self.metrics.truncate_after(int(state.step))
    self.train_seconds = read_train_seconds(self.workdir, int(state.step))
    self.start_epoch = int(state.step) // self.steps_per_epoch
    return state

  def end_epoch(self, epoch: int, step: int, losses: np.ndarray, seconds: float,
                get_state: Callable[[], Any]) -> None:
    """Records epoch `epoch`'s losses; evaluates and checkpoints when the config says so.

    get_state() gives the state after the epoch; it is called only when one of those needs it.

    Raises:
      UserError: a loss was NaN or infinite (the last good checkpoint is kept).
    """
    self.train_seconds += seconds
    config = self.config
    bad_step = _first_bad_step(losses, step - losses.size)
    if bad_step is not None:
      kept = self.checkpoints.latest_step()
      kept = 'no checkpoint was saved yet' if kept is None else (
          f'the last good checkpoint (step {kept}) is kept in {self.checkpoints.directory}')
      raise UserError(f'loss became {losses[bad_step - step + losses.size]} at step '
                      f'{bad_step} (epoch {epoch + 1}); {kept}')
    self.metrics.write('train', step, {'epoch': epoch + 1, 'loss': float(losses.mean())})
    last = epoch + 1 == config.num_epochs
    if config.eval_every_epochs > 0 and (epoch + 1) % config.eval_every_epochs == 0 and not last:
      self.metrics.write('test', step, self._evaluate(jax.device_get(get_state().params),
                                                      self.metrics, step))
    if last or (epoch + 1) % config.checkpoint_every_epochs == 0:
      self.checkpoints.save(step, get_state())
      write_train_seconds(self.workdir, step, self.train_seconds)

  def finish(self, params: Any) -> dict:
    """The final test metrics, computed once (a finished run's are read back)."""
    results = read_results(self.workdir)
    if results is None or self.start_epoch < self.config.num_epochs:
      step = self.total_steps
      results = {'step': step, **self._evaluate(jax.device_get(params), self.metrics, step)}
      self.metrics.write('final', step, {k: v for k, v in results.items() if k != 'step'})
      results['train_seconds'] = self.train_seconds
      write_results(self.workdir, results)
    self.metrics.close()
    self.checkpoints.close()
    return results


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
