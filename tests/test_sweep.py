"""Sweeps: padded latent sizes compute each member's own model; one program equals runs alone."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vaejax
from vaejax import runs
from vaejax.errors import UserError
from vaejax.models.vae import make_model
from vaejax.training import sweep
from vaejax.training import train
from vaejax.training import trainstate
from tests.conftest import tiny_config

PIXEL_MEAN = jnp.full(784, 0.13)


def test_padding_then_cutting_returns_the_model_and_pads_with_zeros():
  small, big = make_model('two_layer', 3), make_model('two_layer', 7)
  params = small.init(jax.random.key(0), PIXEL_MEAN)
  big_shapes = jax.eval_shape(big.init, jax.random.key(0), PIXEL_MEAN)
  padded = sweep.resize_latent(params, 3, 7, big_shapes)
  mask = sweep.latent_mask(small, big, 784)
  jax.tree.map(lambda p, s: np.testing.assert_array_equal(p.shape, s.shape), padded, big_shapes)
  jax.tree.map(lambda p, m: np.testing.assert_array_equal(p[~m], 0), padded, mask)
  assert sum(m.sum() for m in jax.tree.leaves(mask)) == sum(
      p.size for p in jax.tree.leaves(params))
  back = sweep.resize_latent(padded, 7, 3, params)
  jax.tree.map(np.testing.assert_array_equal, back, params)
  # The encoder's output keeps its [mean, log_std] halves apart.
  out = padded['encoder']['z2']['Dense_2']['bias']
  np.testing.assert_array_equal(out[7:10], params['encoder']['z2']['Dense_2']['bias'][3:])


@pytest.mark.parametrize('architecture', ['one_layer', 'two_layer'])
def test_padded_model_has_the_small_models_log_weights(architecture):
  small, big = make_model(architecture, 4), make_model(architecture, 10)
  params = small.init(jax.random.key(1), PIXEL_MEAN)
  padded = sweep.resize_latent(params, 4, 10,
                               jax.eval_shape(big.init, jax.random.key(0), PIXEL_MEAN))
  x = jax.random.bernoulli(jax.random.key(2), 0.3, (784,)).astype(jnp.float32)
  key = jax.random.key(3)
  np.testing.assert_allclose(big.log_weights(padded, x, key, 6),
                             small.log_weights(params, x, key, 6), rtol=1e-5)


def test_models_trained_together_match_models_trained_alone():
  exp = train.build(tiny_config())
  images = jnp.asarray(exp.dataset.train_images[:4000])
  sizes, seeds = (2, 5), (0, 1)
  big = make_model('one_layer', max(sizes))
  init = lambda model, key: trainstate.init_state(model, exp.optimizer, key, PIXEL_MEAN)
  big_state = jax.eval_shape(lambda: init(big, jax.random.key(0)))
  keys = [trainstate.run_keys(seed) for seed in seeds]
  alone = [init(make_model('one_layer', d), k.init) for d, k in zip(sizes, keys)]
  stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
  states = stack([sweep.resize_latent(s, d, big.latent_dim, big_state)
                  for s, d in zip(alone, sizes)])
  masks = stack([sweep.latent_mask(make_model('one_layer', d), big, 784) for d in sizes])
  together = sweep.make_sweep_train_epoch(
      train.make_train_step(big, exp.objective, exp.optimizer), 4000, 200)
  states, metrics = together(states, (masks, images), jnp.stack([k.data for k in keys]),
                             jnp.stack([k.train for k in keys]), 0)
  for n, (d, k) in enumerate(zip(sizes, keys)):
    model = make_model('one_layer', d)
    epoch = train.make_train_epoch(train.make_train_step(model, exp.objective, exp.optimizer),
                                   4000, 200)
    state, single = epoch(alone[n], images, k.data, k.train, 0)
    np.testing.assert_allclose(metrics['loss'][:, n], single['loss'], rtol=1e-4)
    member = jax.tree.map(lambda x: np.asarray(x[n]), states.params)
    jax.tree.map(lambda m, p: np.testing.assert_array_equal(p[~m[n]], 0), masks, member)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
                 sweep.resize_latent(member, big.latent_dim, d, state.params), state.params)
  assert not np.allclose(metrics['loss'][:, 0], metrics['loss'][:, 1])


@pytest.mark.multidevice
def test_sweep_spreads_models_over_the_eight_devices():
  """Placement, and the same states as the same vmapped epoch on one device."""
  exp = train.build(tiny_config())
  images = jnp.asarray(exp.dataset.train_images[:800])
  model = make_model('one_layer', 3)
  keys = [trainstate.run_keys(seed) for seed in range(8)]
  init = lambda: jax.vmap(lambda k: trainstate.init_state(model, exp.optimizer, k, PIXEL_MEAN))(
      jnp.stack([k.init for k in keys]))
  masks = jax.tree.map(lambda p: np.ones(p.shape, bool), init().params)
  data_keys, train_keys = jnp.stack([k.data for k in keys]), jnp.stack([k.train for k in keys])
  epoch = sweep.make_sweep_train_epoch(
      train.make_train_step(model, exp.objective, exp.optimizer), 800, 200)
  alone, alone_metrics = epoch(init(), (masks, images), data_keys, train_keys, 0)
  mesh = sweep.sharding.model_mesh(8)
  assert mesh is not None and mesh.size == 8
  args = sweep.sharding.split_models((init(), masks, data_keys, train_keys), mesh)
  states, metrics = epoch(args[0], (args[1], sweep.sharding.replicate(images, mesh)),
                          *args[2:], 0)
  kernel = states.params['decoder']['x']['Dense_0']['kernel']
  assert len(kernel.sharding.device_set) == 8
  assert [s.data.shape[0] for s in kernel.addressable_shards] == [1] * 8
  assert np.isfinite(metrics['loss']).all() and metrics['loss'].shape == (4, 8)
  np.testing.assert_allclose(metrics['loss'], alone_metrics['loss'], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               jax.device_get(states.params), jax.device_get(alone.params))


def test_vmapped_sweep_writes_ordinary_runs_equal_to_runs_alone(small_mnist, tmp_path):
  configs = [tiny_config(**small_mnist, snr_num_draws=0),
             tiny_config(**small_mnist, snr_num_draws=0, latent_dim=3, seed=1)]
  workdirs = [str(tmp_path / 'a'), str(tmp_path / 'b')]
  results = sweep.train_and_evaluate_many(configs, workdirs, 'vmap')
  for config, workdir, result in zip(configs, workdirs, results):
    alone_dir = workdir + '_alone'
    alone = train.train_and_evaluate(config, alone_dir)
    assert result['nll'] == pytest.approx(alone['nll'], rel=1e-4)
    assert result['active_units'] == alone['active_units']
    run = vaejax.load(workdir)
    assert run.model.latent_dim == config.latent_dim and run.step == alone['step']
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
                 run.params, vaejax.load(alone_dir).params)
  # Finished members are read back, alone or in a sweep.
  assert train.train_and_evaluate(configs[1], workdirs[1]) == results[1]
  assert sweep.train_and_evaluate_many(configs, workdirs, 'vmap') == results


def test_sweep_members_must_share_all_but_seed_and_latent_size():
  with pytest.raises(UserError, match="not in \\['num_samples'\\]"):
    sweep.check_members([tiny_config(), tiny_config(num_samples=3, seed=4)])
  with pytest.raises(UserError, match="'sbn_linear' takes one latent size \\(got \\[5, 10\\]\\)"):
    sweep.check_members([tiny_config(architecture='sbn_linear', latent_dim=d) for d in (5, 10)])
  sweep.check_members([tiny_config(architecture='sbn_linear', seed=s) for s in (0, 1)])
  with pytest.raises(UserError, match='unknown sweep strategy'):
    sweep.choose_strategy('parallel')
  assert sweep.choose_strategy('auto') == 'sequential'  # On CPU: measured faster.


@pytest.mark.parametrize('strategy', ['vmap', 'sequential'])
def test_a_member_whose_loss_becomes_nan_stops_alone(small_mnist, tmp_path, monkeypatch,
                                                     strategy):
  real_epoch = sweep.make_sweep_train_epoch
  real_step = train.make_train_step

  def poisoned_epoch(*args):
    """The real program; member 1's loss reads NaN from the second epoch (step 15) on."""
    epoch_fn = real_epoch(*args)

    def train_epoch(states, *rest):
      states, metrics = epoch_fn(states, *rest)
      return states, {'loss': metrics['loss'].at[5:, 1].set(jnp.nan) if rest[-1] else
                      metrics['loss']}
    return train_epoch

  def poisoned_step(model, *args):
    """The real step; member 1's (latent_dim 3, trained alone) loss is NaN from step 15."""
    step = real_step(model, *args)

    def poisoned(state, batch, key):
      new_state, metrics = step(state, batch, key)
      return new_state, {'loss': jnp.where(state.step >= 15, jnp.nan, metrics['loss'])}
    return step if model.latent_dim != 3 else poisoned

  monkeypatch.setattr(sweep, 'make_sweep_train_epoch', poisoned_epoch)
  monkeypatch.setattr(train, 'make_train_step', poisoned_step)
  configs = [tiny_config(**small_mnist, snr_num_draws=0, num_epochs=2),
             tiny_config(**small_mnist, snr_num_draws=0, num_epochs=2, latent_dim=3, seed=1)]
  workdirs = [str(tmp_path / 'a'), str(tmp_path / 'b')]
  results = sweep.train_and_evaluate_many(configs, workdirs, strategy)
  assert results[0]['step'] == 20
  message = r'loss became nan at step 15 \(epoch 2\); the last good checkpoint \(step 10\)'
  assert re.match(message, results[1]['failed'])
  error = json.loads((tmp_path / 'b' / runs.ERROR_FILE).read_text())
  assert (error['step'], error['checkpoint']) == (15, 10)
  assert sweep.train_and_evaluate_many(configs, workdirs, strategy) == results  # Read back.
