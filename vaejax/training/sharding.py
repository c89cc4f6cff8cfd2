"""Meshes over devices: one run's batches split across them, or a sweep's models spread over them.

Both use jax.sharding (a Mesh and NamedSharding); the jitted programs are the ordinary ones and
XLA inserts the communication. Across hosts (after jax.distributed.initialize), jax.devices()
lists every host's devices, each host feeds and computes only its own part of each batch, and
process 0 alone writes the run directory.
"""

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vaejax.errors import UserError

DATA_AXIS = 'data'
MODEL_AXIS = 'models'


def data_mesh(num_devices: int, batch_size: int,
              devices: Sequence[jax.Device] | None = None) -> Mesh | None:
  """A mesh over the first num_devices devices (0: all) of `devices` (default: every host's);
  None for one device."""
  devices = jax.devices() if devices is None else list(devices)
  n = len(devices) if num_devices == 0 else num_devices
  if n > len(devices):
    raise UserError(f'num_devices is {n} but only {len(devices)} {devices[0].platform} '
                    f'devices are visible')
  if batch_size % n:
    raise UserError(f'batch_size {batch_size} does not split evenly across {n} devices')
  return None if n == 1 else Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def model_mesh(num_models: int, devices: Sequence[jax.Device] | None = None) -> Mesh | None:
  """A mesh over as many of `devices` (default: the local ones) as divide num_models evenly
  (None if that is one)."""
  devices = jax.local_devices() if devices is None else list(devices)
  n = max(d for d in range(1, len(devices) + 1) if num_models % d == 0)
  return None if n == 1 else Mesh(np.asarray(devices[:n]), (MODEL_AXIS,))


def split_batch(x: jax.Array, mesh: Mesh) -> jax.Array:
  """x with its leading (example) axis split across the mesh's devices."""
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(DATA_AXIS)))


def _place(tree: Any, sharding: NamedSharding) -> Any:
  """Every leaf as a global array with `sharding`, each host filling only its own devices."""

  def place(leaf):
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(place(jax.random.key_data(leaf)),
                                      impl=jax.random.key_impl(leaf))
    value = np.asarray(leaf)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

  return jax.tree.map(place, tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """A copy of every leaf on every device of the mesh."""
  return _place(tree, NamedSharding(mesh, PartitionSpec()))


def split_models(tree: Any, mesh: Mesh) -> Any:
  """Leaves with a leading model axis, the models spread evenly across the mesh's devices."""
  return _place(tree, NamedSharding(mesh, PartitionSpec(MODEL_AXIS)))


def is_writer() -> bool:
  """Whether this process writes run directories: process 0 of a multi-host job, or the only one."""
  return jax.process_index() == 0
