"""vaejax: VAEs and importance-weighted bounds in JAX."""

from vaejax.api import Run, load
from vaejax.errors import UserError
from vaejax.training import train
from vaejax.training.train import train_and_evaluate

__all__ = ['Run', 'UserError', 'load', 'train', 'train_and_evaluate']
