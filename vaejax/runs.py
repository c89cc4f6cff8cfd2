"""Run directories: config.json, metrics.jsonl, TensorBoard events and orbax checkpoints.

A workdir describes its run completely: the config it was started with, one JSON line of
metrics per logged event, TensorBoard scalars, and checkpoints of the whole train state, from
which training resumes by itself (vaejax/training/loop.py). One process trains in it at a time
(lock), and restore() reads any trainer's run back.
"""

import fcntl
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import socket
import tempfile
from typing import Any, Callable, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
from matplotlib import image
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from tensorboardX import SummaryWriter

from vaejax.configs import default
from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.models import m2
from vaejax.training import sharding
from vaejax.training import trainstate

CONFIG_FILE = 'config.json'
METRICS_FILE = 'metrics.jsonl'
RESULTS_FILE = 'results.json'
TRAIN_TIME_FILE = 'train_time.json'
ERROR_FILE = 'error.json'
CHECKPOINT_DIR = 'checkpoints'
PICTURES_DIR = 'pictures'
MANIFEST_FILE = 'vaejax_sha256.json'
CONFIG_CHANGES_FILE = 'config_changes.jsonl'
RUN_INFO_FILE = 'run.json'
LOCK_FILE = 'lock'
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy')
# Fields a resumed run may change: they decide how a run is evaluated, checkpointed or spread
# over devices, or where its data is found, never the model it trains.
RUNTIME_FIELDS = ('checkpoint_every_epochs', 'data_dir', 'eval_batch_size', 'eval_chunk_size',
                  'eval_every_epochs', 'max_checkpoints', 'num_devices', 'snr_num_draws')
_locks = {}  # Resolved workdir -> its open lock file, for the life of this process's run.


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


def lock(workdir: str | os.PathLike) -> None:
  """Makes this process the one that trains in workdir, until unlock or its end.

  An flock on workdir/lock, which the kernel releases when the process ends, however it
  ends: a run killed with -9 leaves nothing to clean up. A second process is refused in one
  line naming the holder. In a multi-host job only the writer (process 0) takes it; the
  others share the directory with it. Taking it again in the same process does nothing.
  """
  path = pathlib.Path(workdir).resolve()
  if not sharding.is_writer() or path in _locks:
    return
  f = (path / LOCK_FILE).open('a+')
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or 'another process'
    f.close()
    raise UserError(f'workdir {workdir} is in use by {holder}: one process per run '
                    f'directory; wait for it to end, or use another --workdir') from None
  f.truncate(0)
  f.write(f'process {os.getpid()} on {socket.gethostname()}\n')
  f.flush()
  _locks[path] = f


def unlock(workdir: str | os.PathLike) -> None:
  """Releases this process's lock on workdir (if it holds one)."""
  f = _locks.pop(pathlib.Path(workdir).resolve(), None)
  if f is not None:
    f.close()


def prepare_workdir(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
  """Creates and locks workdir and writes config.json, or checks that it matches the run
  already there.

  A run already there may be resumed with other RUNTIME_FIELDS: config.json then takes the
  new values and config_changes.jsonl records the old ones; any other change is refused.
  """
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    tempfile.TemporaryFile(dir=path).close()
  except OSError as e:
    raise UserError(f'workdir {workdir} is not writable: {e.strerror}') from None
  lock(path)
  new = _config_dict(config)
  config_path = path / CONFIG_FILE
  changed = []
  if config_path.exists():
    old = _saved_config(config_path)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    refused = [k for k in changed if k not in RUNTIME_FIELDS]
    if refused:
      diffs = ', '.join(f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in refused)
      raise UserError(f'workdir {workdir} holds a run with a different config ({diffs}); '
                      f'use a new --workdir or the same config')
    if changed and sharding.is_writer():
      logging.info('%s: resumed with changed %s.', workdir, ', '.join(changed))
      with (path / CONFIG_CHANGES_FILE).open('a') as f:
        f.write(json.dumps({'changed': {k: [old.get(k), new.get(k)] for k in changed}}) + '\n')
  if sharding.is_writer() and (not config_path.exists() or changed):
    config_path.write_text(json.dumps(new, indent=2, sort_keys=True) + '\n')


# The CPU's widest vector extensions, widest first: XLA compiles CPU programs for the host's,
# and two of them round differently (the same run's numbers differ after ~8 digits).
CPU_EXTENSIONS = ('avx512f', 'avx2', 'avx', 'sse4_2', 'sve', 'asimd')


def cpu() -> str:
  """The host CPU's model and widest vector extension, e.g. 'AMD EPYC, avx2' (from
  /proc/cpuinfo; platform.processor() where there is none)."""
  try:
    lines = pathlib.Path('/proc/cpuinfo').read_text().splitlines()
  except OSError:
    return platform.processor() or platform.machine()
  field = lambda *names: next((line.split(':', 1)[1].strip() for line in lines
                               if line.split(':', 1)[0].strip() in names), '')
  flags = set(field('flags', 'Features').split())
  widest = next((f for f in CPU_EXTENSIONS if f in flags), 'none')
  return f'{field("model name", "CPU part") or platform.machine()}, {widest}'


def environment() -> dict:
  """The versions of Python and of the packages that decide a run's numbers, and the devices.
  On CPU the number of cores the process may use and the CPU decide them too (XLA splits work
  by the cores and vectorizes for the CPU)."""
  versions = {name: importlib.metadata.version(name) for name in PACKAGES}
  return {'versions': {'python': platform.python_version(), **versions},
          'backend': jax.default_backend(), 'device_kind': jax.devices()[0].device_kind,
          'cpu_cores': len(os.sched_getaffinity(0)), 'cpu': cpu()}


def _differences(old: dict, new: dict) -> list[str]:
  on_cpu = ('cpu_cores', 'cpu')
  flat = lambda d: {**d['versions'], 'backend': d['backend'], 'device_kind': d['device_kind'],
                    **{k: d.get(k) for k in on_cpu}}
  old, new = flat(old), flat(new)
  # Not compared for runs from before each was recorded, nor off CPU, where they decide nothing.
  for k in on_cpu:
    if old[k] is None or new['backend'] != 'cpu':
      del old[k], new[k]
  return [f'{k} {old.get(k)} -> {new.get(k)}' for k in sorted(old.keys() | new.keys())
          if old.get(k) != new.get(k)]


def read_run_info(workdir: str | os.PathLike) -> dict:
  """run.json: how the run was started (environment()) and what its trainer recorded, e.g.
  image_shape. {} for runs from before it existed. Warns once if this process's versions or
  devices differ from those the run was started with."""
  path = pathlib.Path(workdir) / RUN_INFO_FILE
  if not path.exists():
    return {}
  info = json.loads(path.read_text())
  differences = _differences(info['environment'], environment())
  if differences:
    logging.warning('%s was started under other versions or devices: %s.', workdir,
                    ', '.join(differences))
  return info


def write_run_info(workdir: str | os.PathLike, **info: Any) -> None:
  """Writes run.json (the environment and `info`) for a new run; an older run's is kept."""
  path = pathlib.Path(workdir) / RUN_INFO_FILE
  if sharding.is_writer() and not path.exists():
    path.write_text(json.dumps({'environment': environment(), **info}, indent=2) + '\n')


class MetricsLog:
  """metrics.jsonl (one JSON object a line) and TensorBoard scalars, side by side.

  In a multi-host job only process 0 writes; the others' writes do nothing.
  """

  def __init__(self, workdir: str | os.PathLike):
    self._path = pathlib.Path(workdir) / METRICS_FILE
    self._writer = None
    self._is_writer = sharding.is_writer()

  def _tensorboard(self, purge_step: int | None = None) -> SummaryWriter:
    """The TensorBoard writer, opened at the first use.

    Opened with purge_step, it tells TensorBoard to hide the earlier files' events from that
    step on, so that a resumed run shows each step once.
    """
    if self._writer is None:
      self._writer = SummaryWriter(str(self._path.parent), purge_step=purge_step)
    return self._writer

  def records(self) -> list[dict]:
    if not self._path.exists():
      return []
    return [json.loads(line) for line in self._path.read_text().splitlines() if line]

  def truncate_after(self, step: int) -> None:
    """Drops the records of steps after `step`, those a resumed run will log again."""
    if not self._is_writer:
      return
    records = self.records()
    kept = [r for r in records if r['step'] <= step]
    if len(kept) < len(records):
      self._path.write_text(''.join(json.dumps(r) + '\n' for r in kept))
    if records:
      self._tensorboard(purge_step=step + 1)

  def drop(self, split: str) -> None:
    """Drops the records of `split` (a final evaluation a kill cut off before its results)."""
    records = self.records()
    kept = [r for r in records if r['split'] != split]
    if self._is_writer and len(kept) < len(records):
      self._path.write_text(''.join(json.dumps(r) + '\n' for r in kept))

  def write(self, split: str, step: int, metrics: dict[str, Any]) -> None:
    """Appends {'split', 'step', **metrics} to metrics.jsonl; scalars also go to TensorBoard."""
    if not self._is_writer:
      return
    with self._path.open('a') as f:
      f.write(json.dumps({'split': split, 'step': step, **metrics}) + '\n')
    writer = self._tensorboard()
    for name, value in metrics.items():
      if isinstance(value, (int, float)):
        writer.add_scalar(f'{split}/{name}', value, step)
    writer.flush()

  def write_pictures(self, step: int, pictures: dict) -> None:
    """PNGs in workdir/pictures/<name>_<step>.png and TensorBoard images.

    Args:
      step: the training step they show.
      pictures: name -> a grey [H, W] or colour [H, W, 3] image in [0, 1], or a
        matplotlib figure.
    """
    if not self._is_writer:
      return
    writer = self._tensorboard()
    folder = self._path.parent / PICTURES_DIR
    folder.mkdir(exist_ok=True)
    for name, picture in pictures.items():
      path = folder / f'{name}_{step}.png'
      if isinstance(picture, np.ndarray):
        image.imsave(path, picture, cmap='gray', vmin=0.0, vmax=1.0)
        writer.add_image(f'pictures/{name}', picture, step,
                         dataformats='HWC' if picture.ndim == 3 else 'HW')
      else:
        picture.savefig(path, dpi=120)
        writer.add_figure(f'pictures/{name}', picture, step, close=False)
    writer.flush()

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
                                                             create=True),
        item_handlers=ocp.StandardCheckpointHandler())  # Named, so its metadata can be read.

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
    """The state saved at `step`, shaped like target; a one-line UserError if it is damaged.

    An M2 checkpoint from before params['decoder']['log_scale'] (m2.in_old_layout) is read
    in its own layout and given back in today's.
    """
    problem = self.problem(step)
    if problem is None:
      try:
        old = m2.in_old_layout(self._manager.item_metadata(step).tree)
        if old and target is not None:
          target = m2.to_old_layout(target)
        state = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        return m2.from_old_layout(state) if old else state
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


class Diverged(UserError):
  """A loss became NaN or infinite; the run directory's error.json records it."""


def read_error(workdir: str | os.PathLike) -> str | None:
  """The error that stopped the run last time (None: none did)."""
  path = pathlib.Path(workdir) / ERROR_FILE
  return json.loads(path.read_text())['error'] if path.exists() else None


def compare(old: str | os.PathLike, new: str | os.PathLike) -> dict:
  """Whether run `new` retrained run `old` (or its first epochs) bit for bit.

  Returns:
    {'records': how many of new's metrics.jsonl records were compared, 'first_difference':
    None or {'line', 'old', 'new'}, the first record that differs (steps new has not reached
    are left out), 'step': the newest checkpoint of new, 'params_equal': True or False where
    old has a checkpoint at that step (None where not), and each run's 'environment'}.
  """
  old_records, new_records = MetricsLog(old).records(), MetricsLog(new).records()
  checkpoints = Checkpoints(new)
  step = checkpoints.latest_step()
  old_records = [r for r in old_records if step is None or r['step'] <= step]
  first = next((i for i in range(max(len(old_records), len(new_records)))
                if old_records[i:i + 1] != new_records[i:i + 1]), None)
  params_equal = None
  old_checkpoints = Checkpoints(old)
  if step is not None and step in old_checkpoints.verified_steps():
    trees = [c.restore(step, None)['params'] for c in (old_checkpoints, checkpoints)]
    params_equal = jax.tree.structure(trees[0]) == jax.tree.structure(trees[1]) and all(
        np.array_equal(a, b) for a, b in zip(*map(jax.tree.leaves, trees)))
  checkpoints.close()
  old_checkpoints.close()
  info = lambda workdir: (json.loads((pathlib.Path(workdir) / RUN_INFO_FILE).read_text())
                          if (pathlib.Path(workdir) / RUN_INFO_FILE).exists() else {})
  return {
      'records': len(new_records),
      'first_difference': None if first is None else {
          'line': first + 1, 'old': (old_records[first:first + 1] or [None])[0],
          'new': (new_records[first:first + 1] or [None])[0]},
      'step': step, 'params_equal': params_equal,
      'environment': {'old': info(old).get('environment'), 'new': info(new).get('environment')},
  }


class Restored(NamedTuple):
  """A saved run: its config, model (a VAE, DiscreteVAE or M2), newest parameters and step."""
  config: ml_collections.ConfigDict
  model: Any
  params: Any
  step: int


def _model(workdir: str | os.PathLike, config: ml_collections.ConfigDict,
           checkpoints: 'Checkpoints', step: int) -> Any:
  """The run's model, its sizes read from run.json (runs from before it: from the data, or
  for an M2 run from its checkpoint)."""
  info = read_run_info(workdir)
  if config.architecture in m2.ARCHITECTURES:
    if 'num_classes' not in info:  # From the classifier's first kernel and last bias.
      classifier = checkpoints.restore(step, None)['params']['classifier']
      layers = sorted(classifier, key=lambda name: int(name.split('_')[-1]))
      info = {'num_inputs': classifier[layers[0]]['kernel'].shape[0],
              'num_classes': classifier[layers[-1]]['bias'].shape[0]}
    return m2.make_model(config, info['num_inputs'], info['num_classes'])
  image_shape = info.get('image_shape') or datasets.load(config.dataset,
                                                     config.data_dir or None).image_shape
  return trainstate.model_from_config(config, tuple(image_shape))


def restore(workdir: str | os.PathLike, step: int | None = None) -> Restored:
  """A run's config, model and the parameters of its newest checkpoint that verifies (or of
  the one at `step`), for any trainer's run (vaejax.load, M1 + M2 reading its M1 run); no
  dataset is read."""
  config = read_config(workdir)
  checkpoints = Checkpoints(workdir)
  verified = checkpoints.verified_steps()
  if step is None and not verified:
    raise UserError(f'{workdir} holds no complete checkpoint yet')
  if step is not None and step not in verified:
    raise UserError(f'{workdir} holds no complete checkpoint at step {step}; it has {verified}')
  step = max(verified) if step is None else step
  model = _model(workdir, config, checkpoints, step)
  optimizer = trainstate.make_optimizer(config, steps_per_epoch=1)
  objective = None if isinstance(model, m2.M2) else trainstate.objective_from_config(config)
  target = jax.eval_shape(lambda: trainstate.init_state(
      model, optimizer, jax.random.key(0), jnp.zeros(model.num_inputs), objective=objective))
  state = checkpoints.restore(step, target)
  checkpoints.close()
  return Restored(config, model, state.params, step)


class RunDir:
  """A run directory while a trainer uses it: locked, resumed, recorded into, checkpointed.

  vaejax/training/loop.py decides when (epochs, evaluations, checkpoints, NaNs, the end); this class
  keeps the files, the same whichever trainer (VAE, M2, sweep member) writes them. A state is
  any pytree with `params` and `step` (state.TrainState).
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, steps_per_epoch: int,
               init_state: Callable[[], Any],
               evaluate: Callable[[Any, 'MetricsLog', int], dict],
               info: dict[str, Any] | None = None):
    """
    Args:
      config: the run's config (num_epochs, eval_every_epochs, checkpoint_every_epochs and
        max_checkpoints are read by the loop).
      workdir: the run directory; this process holds its lock until close().
      steps_per_epoch: training steps in one epoch.
      init_state: () -> a fresh state, also the shape checkpoints are restored into.
      evaluate: (host params, metrics log, step) -> test metrics; it may write pictures.
      info: JSON values that loading the run needs (e.g. image_shape), kept in run.json
        beside the environment (versions, backend, device kind) the run started under.
    """
    prepare_workdir(workdir, config)
    read_run_info(workdir)  # Warns if resumed under other versions.
    write_run_info(workdir, **(info or {}))
    self.config, self.workdir = config, workdir
    self.steps_per_epoch = steps_per_epoch
    self._init_state, self._evaluate = init_state, evaluate
    self.metrics = MetricsLog(workdir)
    self.checkpoints = Checkpoints(workdir, config.max_checkpoints)
    self.total_steps = config.num_epochs * steps_per_epoch
    self.train_seconds = 0.0
    self.start_epoch = 0
    self.closed = False

  def start(self, step: int | None) -> Any:
    """The state saved at checkpoint `step` (None: a fresh state); later records and
    checkpoints are dropped."""
    state = self._init_state()
    self.checkpoints.discard_after(step)
    if step is not None:
      state = self.checkpoints.restore(step, state)
      logging.info('%s: resumed from checkpoint at step %d.', self.workdir, step)
    if sharding.is_writer():
      (pathlib.Path(self.workdir) / ERROR_FILE).unlink(missing_ok=True)  # A new attempt.
    self.metrics.truncate_after(int(state.step))
    self.train_seconds = read_train_seconds(self.workdir, int(state.step))
    self.start_epoch = int(state.step) // self.steps_per_epoch
    return state

  def evaluate(self, params: Any, step: int) -> dict:
    """The trainer's evaluation of params (on any device) at `step`."""
    return self._evaluate(jax.device_get(params), self.metrics, step)

  def save(self, step: int, state: Any) -> None:
    """A checkpoint of state at `step`, and the training time up to it."""
    self.checkpoints.save(step, state)
    write_train_seconds(self.workdir, step, self.train_seconds)

  def write_error(self, error: str, step: int, checkpoint: int | None) -> None:
    """error.json: why this attempt stopped, at which step, and the checkpoint kept."""
    if sharding.is_writer():
      (pathlib.Path(self.workdir) / ERROR_FILE).write_text(json.dumps(
          {'error': error, 'step': step, 'checkpoint': checkpoint}, indent=2) + '\n')

  def close(self) -> None:
    """Closes the files and releases the directory's lock (once; later calls do nothing)."""
    if not self.closed:
      self.metrics.close()
      self.checkpoints.close()
      unlock(self.workdir)
      self.closed = True
