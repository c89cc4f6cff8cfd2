"""What every experiment script shares: config paths, quiet logs, and UserErrors as exit codes."""

import logging as std_logging
import os
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
import jax

import vaejax

CONFIG_DIR = pathlib.Path(vaejax.__file__).parent / 'configs'
_MULTIHOST = flags.DEFINE_bool(
    'multihost', False, 'Start with jax.distributed.initialize(): the same command runs on '
    'every host of a cluster (SLURM, Open MPI, Kubernetes, Cloud TPU), which it detects from '
    'the environment. Use with --config.num_devices=0 to split batches over every device.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'With --multihost where the cluster is not detected: '
    'host:port of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'With --coordinator_address.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'With --coordinator_address.')


def config_path(name: str) -> str:
  """Path of a config file shipped in vaejax/configs."""
  return str(CONFIG_DIR / name)


class _LibraryInfoFilter(std_logging.Filter):
  """Drops the INFO chatter of orbax, TFDS and JAX's backend probing (every checkpoint write logs ~20 lines)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    noisy = any(lib in record.pathname for lib in ('/orbax/', '/tensorflow_datasets/', 'xla_bridge'))
    return record.levelno >= std_logging.WARNING or not noisy


def distinct_integers(flag: flags.FlagHolder) -> list[int]:
  """A list flag's values as integers; a UserError if one is not an integer or repeats."""
  try:
    values = [int(v) for v in flag.value]
  except ValueError:
    raise vaejax.UserError(f'--{flag.name} must be integers, got {flag.value}') from None
  if len(set(values)) < len(values):
    raise vaejax.UserError(f'--{flag.name} repeats a value: {flag.value}')
  return values


def _initialize_cluster() -> None:
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')  # CPU-only clusters.
  try:
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  except (ValueError, RuntimeError) as e:
    raise vaejax.UserError(f'--multihost: no cluster to join ({str(e).splitlines()[0]}); '
                           f'launch under SLURM/MPI/Kubernetes/TPU, or pass '
                           f'--coordinator_address, --num_processes and --process_id') from None
  logging.info('Process %d of %d; %d devices in all.', jax.process_index(),
               jax.process_count(), jax.device_count())


def _deterministic_gpu() -> None:
  """Asks XLA for deterministic GPU kernels (no atomics in scatters and reductions), so that
  the same seed gives the same numbers there too; CPU and TPU are deterministic already. Only
  takes effect before JAX starts its backends, and leaves an XLA_FLAGS that names it alone."""
  xla_flags = os.environ.get('XLA_FLAGS', '')
  if 'xla_gpu_deterministic_ops' not in xla_flags:
    os.environ['XLA_FLAGS'] = f'{xla_flags} --xla_gpu_deterministic_ops=true'.strip()


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a one-line error for a bad flag, a missing config file or a
  positional argument (absl would pass it to main, which takes none)."""
  for arg in argv[1:]:
    if arg.startswith('--config='):
      path = arg.split('=', 1)[1].split(':', 1)[0]
      if not pathlib.Path(path).is_file():
        _fail(f'config file {path} does not exist')
  try:
    remaining = flags.FLAGS(argv)
  except (flags.Error, vaejax.UserError) as e:
    _fail(str(e).splitlines()[0])
  if len(remaining) > 1:
    _fail(f'unexpected argument {remaining[1]!r}: every setting is a flag, --name=value '
          '(a list flag takes one comma-separated value)')
  return remaining


def _fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(1)


def run(main) -> None:
  """app.run(main) with deterministic GPU kernels and quiet library logs; a UserError prints
  one line and exits with 1."""
  _deterministic_gpu()

  def guarded(argv):
    logging.get_absl_handler().addFilter(_LibraryInfoFilter())
    try:
      if _MULTIHOST.value:
        _initialize_cluster()
      main(argv)
    except vaejax.UserError as e:
      _fail(str(e))
  app.run(guarded, flags_parser=_parse_flags)
