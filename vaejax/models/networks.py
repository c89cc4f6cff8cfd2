"""The MLP every model's networks are built from, and the names the models share."""

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = Any
MNIST_SHAPE = (28, 28, 1)


class MLP(nn.Module):
  """Hidden layers (tanh unless told otherwise), then a linear output; Glorot-uniform
  weights (output_kernel_init for the output's), zero biases. With last_hidden=True, the
  last hidden layer's activations instead of the output."""
  hidden: Sequence[int]
  features: int
  output_bias_init: Any = nn.initializers.zeros
  output_kernel_init: Any = nn.initializers.glorot_uniform()
  activation: Callable[[jax.Array], jax.Array] = jnp.tanh

  @nn.compact
  def __call__(self, h: jax.Array, last_hidden: bool = False) -> jax.Array:
    init = nn.initializers.glorot_uniform()
    for width in self.hidden:
      h = self.activation(nn.Dense(width, kernel_init=init)(h))
    if last_hidden:
      return h
    return nn.Dense(self.features, kernel_init=self.output_kernel_init,
                    bias_init=self.output_bias_init)(h)
