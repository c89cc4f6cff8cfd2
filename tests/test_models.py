"""The models' pure functions: shapes, the reparameterization, both architectures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.bounds import objectives
from vaejax.models import distributions
from vaejax.models import vae


def test_reparameterize_draws_from_the_gaussian():
  mean, std = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0])
  z = vae.reparameterize(jax.random.key(0), mean, std, 20000)
  assert z.shape == (20000, 2)
  np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.05)
  np.testing.assert_allclose(z.std(axis=0), std, rtol=0.02)


@pytest.mark.parametrize('architecture, sizes', [('one_layer', [50]), ('two_layer', [100, 20])])
def test_architectures(architecture, sizes):
  model = vae.make_model(architecture, sizes[-1])
  params = model.init(jax.random.key(0), jnp.full(784, 0.2))
  np.testing.assert_allclose(params['decoder']['x']['Dense_2']['bias'],
                             jnp.full(784, jax.scipy.special.logit(0.2)), rtol=1e-6)
  x = jax.random.bernoulli(jax.random.key(1), 0.2, (784,)).astype(jnp.float32)
  assert [m.shape for m, _ in model.encode_layers(params, x)] == [(d,) for d in sizes]
  mean, std = model.encode(params, x)
  assert mean.shape == std.shape == (sizes[-1],) and bool(jnp.all(std > 0))
  assert model.decode(params, mean).shape == (784,)
  assert model.sample(params, jax.random.key(2), 3).shape == (3, 784)
  logw = model.log_weights(params, x, jax.random.key(3), 7)
  assert logw.shape == (7,) and bool(jnp.all(jnp.isfinite(logw)))
  assert objectives.iwae(logw) >= objectives.elbo(logw)


def test_log_q_is_the_density_of_the_draw():
  model = vae.make_model('one_layer', 5)
  params = model.init(jax.random.key(0), jnp.full(784, 0.2))
  x = jax.random.bernoulli(jax.random.key(1), 0.2, (784,)).astype(jnp.float32)
  zs, means, log_qz = model.sample_posterior(params, x, jax.random.key(2))
  mean, std = model.encode(params, x)
  np.testing.assert_allclose(means[0], mean)
  np.testing.assert_allclose(log_qz, distributions.gaussian_log_prob(zs[0], mean, std),
                             rtol=1e-6)


def test_bernoulli_log_prob_is_stable_for_extreme_logits():
  logits = jnp.array([-200.0, -30.0, 0.0, 30.0, 200.0])
  ones, zeros = jnp.ones(5), jnp.zeros(5)
  expected_ones = np.array([-200.0, -30.0, -np.log(2), -np.exp(-30.0), 0.0])
  np.testing.assert_allclose(jax.vmap(distributions.bernoulli_log_prob)(ones[:, None],
                                                                         logits[:, None]),
                             expected_ones, rtol=1e-6, atol=1e-12)
  np.testing.assert_allclose(distributions.bernoulli_log_prob(zeros, logits),
                             jnp.sum(jax.nn.log_sigmoid(-logits)), rtol=1e-6)


@pytest.mark.parametrize('image_shape', [(28, 28, 1), (32, 32, 3)])
def test_conv_model_trains_a_tiny_epoch_and_decodes_to_the_image_shape(image_shape):
  import optax  # pylint: disable=g-import-not-at-top
  from vaejax.training import train  # pylint: disable=g-import-not-at-top
  from vaejax.training import trainstate  # pylint: disable=g-import-not-at-top
  model = vae.make_model('conv', 4, image_shape, 'logistic')
  d = int(np.prod(image_shape))
  images = jax.random.randint(jax.random.key(0), (40, d), 0, 256).astype(jnp.uint8)
  optimizer = optax.adam(1e-3)
  state = trainstate.init_state(model, optimizer, jax.random.key(1),
                                images.mean(axis=0) / 255.0)
  objective = objectives.make_objective('iwae', 2, 1, 0.5, 'reparam')
  epoch = train.make_train_epoch(train.make_train_step(model, objective, optimizer), 40, 10)
  keys = trainstate.run_keys(0)
  state, metrics = epoch(state, images, keys.data, keys.train, 0)
  assert metrics['loss'].shape == (4,) and np.all(np.isfinite(metrics['loss']))
  mean, std = vae.encode_batch(model, state.params, images[:3] / 255.0)
  assert mean.shape == std.shape == (3, 4)
  assert vae.decode_batch(model, state.params, mean).shape == (3, d)
  samples = model.sample(state.params, jax.random.key(2), 2)
  assert samples.shape == (2, d) and bool(jnp.all((samples >= 0) & (samples <= 1)))


@pytest.mark.parametrize('architecture', ['one_layer', 'two_layer'])
def test_gaussian_heads_are_glorot_uniform_with_their_own_fan_out(architecture):
  model = vae.make_model(architecture, 50)
  params = model.init(jax.random.key(0), jnp.full(784, 0.2))
  heads = [params['encoder'][f'z{l + 1}'] for l in range(model.num_layers)] + [
      params['decoder'][f'z{l}'] for l in range(1, model.num_layers)]
  for net in heads:
    kernel = np.asarray(net[max(net)]['kernel'])  # The output Dense: [fan_in, 2d].
    fan_in, d = kernel.shape[0], kernel.shape[1] // 2
    limit = np.sqrt(6 / (fan_in + d))  # A joint Dense(2d) would have sqrt(6 / (fan_in + 2d)).
    for head in (kernel[:, :d], kernel[:, d:]):
      assert np.abs(head).max() <= limit
      assert np.abs(head).max() > 0.97 * limit
      np.testing.assert_allclose(head.std(), limit / np.sqrt(3), rtol=0.05)
    assert not np.allclose(kernel[:, :d], kernel[:, d:])
