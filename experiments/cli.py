"""What every experiment script shares: config paths, quiet logs, and UserErrors as exit codes."""

import logging as std_logging
import pathlib
import sys

from absl import app
from absl import logging

import vaejax

CONFIG_DIR = pathlib.Path(vaejax.__file__).parent / 'configs'


def config_path(name: str) -> str:
  """Path of a config file shipped in vaejax/configs."""
  return str(CONFIG_DIR / name)


class _LibraryInfoFilter(std_logging.Filter):
  """Drops the INFO chatter of orbax, TFDS and JAX's backend probing (every checkpoint write logs ~20 lines)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    noisy = any(lib in record.pathname for lib in ('/orbax/', '/tensorflow_datasets/', 'xla_bridge'))
    return record.levelno >= std_logging.WARNING or not noisy


def run(main) -> None:
  """app.run(main) with quiet library logs; a UserError prints one line and exits with 1."""
  def guarded(argv):
    logging.get_absl_handler().addFilter(_LibraryInfoFilter())
    try:
      main(argv)
    except vaejax.UserError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(1)
  app.run(guarded)
