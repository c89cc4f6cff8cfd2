"""vaejax: VAEs and importance-weighted bounds in JAX."""

from vaejax import train
from vaejax.api import Run, load
from vaejax.errors import UserError
from vaejax.train import train_and_evaluate

__all__ = ['Run', 'UserError', 'load', 'train', 'train_and_evaluate']
