"""Compiles vaejax's programs for a TPU topology on this host, and projects the paper's schedule.

  python scripts/compile_for.py --topology=v5e:1x1
  python scripts/compile_for.py --topology=v5e:2x4 --out=runs/compile_for/v5e_2x4.json

Needs libtpu (VAEJAX_EXTRAS=tpu bash scripts/setup_venv.sh), not a TPU: libtpu compiles for a
described slice (jax.experimental.topologies). The programs are vaejax's own (scripts/programs.py
builds them with vaejax's trainers): the scanned training epoch of every Table-1 cell of the
released setup (one and two stochastic layers; batch 20, K = 1, 5, 50), the five cells of each
table as one program, one run's batch split over the slice, sweep_latent.py's vmapped sweep
spread over it (and its members alone), the 5000-sample importance-sampled evaluation of a
batch, AIS of a batch (T = 1000, 16 chains, 10 leapfrog steps) and the M2 epoch.

For each it prints and writes (JSON) the memory XLA plans per device (arguments, outputs,
temporaries; whether it fits the chip's HBM) and, from the step compiled alone (XLA's cost
analysis counts a loop's body once), FLOPs, bytes accessed and XLA's own time estimate per step
('optimal_seconds'). From those it projects the paper's schedule (3280 epochs) per Table-1
cell and for the whole table, one program against cells one after another. Every projected
time is the cost model's estimate, not a measurement: an optimistic bound (it prices each
operation at the chip's peak rate of compute or memory and leaves out what slows real steps,
such as per-operation fixed costs and the host), so real runs take longer. --cpu_check_seconds
measures, on this host's CPU, how far real steps are from the same kind of bound.
"""

import importlib.metadata
import importlib.util
import json
import math
import os
import pathlib
import re
import sys
import time

os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # This host computes on its CPU; TPUs are targets.

from absl import flags  # pylint: disable=g-import-not-at-top
import jax

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # programs.py
sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
import programs  # pylint: disable=g-import-not-at-top
from vaejax.errors import UserError

HBM_GIB = {'v4': 32, 'v5e': 16, 'v5p': 95, 'v6e': 32}  # per chip
TESTED = ('v5e:1x1', 'v5e:2x2', 'v5e:2x4', 'v4:2x2x1', 'v5p:2x2x1', 'v6e:2x2')
HOST_BOUNDS = (2, 2, 1)  # libtpu's default chips per host
GROUPS = ('cells', 'table1', 'data_parallel', 'latent_sweep', 'evaluation', 'ais', 'm2')
# The epochs whose whole program (its memory) is compiled; every cell's step is.
WHOLE_EPOCHS = (('one_layer', 'vae', 1), ('one_layer', 'iwae', 5), ('one_layer', 'iwae', 50),
                ('two_layer', 'iwae', 50))
EPOCHS = 3280  # the paper's schedule: 8 stages of 3^(i-1) epochs
TEST_IMAGES = 10_000
UNPRICED = 'custom_call_target="ConcatBitcast"'
ESTIMATE = ("XLA's TPU cost model (optimal_seconds of the step compiled alone, times the steps): "
            'an estimate, not a measurement, and an optimistic one (a lower bound: it prices '
            'each operation at the peak rate of compute or memory and leaves out per-operation '
            'fixed costs, the host and the input pipeline), so real runs take longer')
INSTALL = ('VAEJAX_EXTRAS=tpu bash scripts/setup_venv.sh (or .venv/bin/pip install '
           '--require-hashes --no-deps -r requirements-tpu.lock)')

_TOPOLOGY = flags.DEFINE_string('topology', 'v5e:1x1', f'A TPU slice, e.g. one of {TESTED}.')
_OUT = flags.DEFINE_string('out', None, 'JSON file (default runs/compile_for/<topology>.json).')
_PROGRAMS = flags.DEFINE_list('programs', list(GROUPS), f'Any of {GROUPS}.')
_CPU_CHECK_SECONDS = flags.DEFINE_float(
    'cpu_check_seconds', 2.0, 'Seconds to time each of three real epochs on this CPU, beside '
    'their compiled cost and the bound it gives (0: no CPU check).')


def require_libtpu() -> None:
  if importlib.util.find_spec('libtpu') is None:
    raise UserError(f'compiling for a TPU needs the libtpu package (about 700 MB); install it '
                    f'with {INSTALL}')


def topology_devices(name: str) -> list:
  """The devices of a described TPU slice, e.g. 'v5e:2x2' (libtpu; no TPU needed)."""
  generation, _, shape = name.partition(':')
  known = f'these compile here: {", ".join(TESTED)}'
  if generation not in HBM_GIB or not re.fullmatch(r'[1-9]\d*(x[1-9]\d*){1,2}', shape):
    raise UserError(f'unknown TPU topology {name!r}; {known}')
  require_libtpu()
  # Compiling only: no TPU to share between processes, and none for libtpu to find here (it
  # would print warnings asking which); the target is the topology named.
  for var, value in (('ALLOW_MULTIPLE_LIBTPU_LOAD', '1'), ('TPU_WORKER_HOSTNAMES', 'localhost'),
                     ('TPU_ACCELERATOR_TYPE', 'v5litepod-4')):
    os.environ.setdefault(var, value)
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  dims = [int(d) for d in shape.split('x')] + [1] * (3 - len(shape.split('x')))
  bounds = tuple(min(d, b) for d, b in zip(dims, HOST_BOUNDS))
  kwargs = {} if bounds == HOST_BOUNDS else {'chips_per_host_bounds': bounds}
  try:
    return list(topologies.get_topology_desc(name, 'tpu', **kwargs).devices)
  except jax.errors.JaxRuntimeError as e:
    raise UserError(f'TPU topology {name!r} does not compile here '
                    f'({str(e).splitlines()[0][:120]}); {known}') from None


def hbm_per_device(name: str, devices: list) -> int:
  """The chip's HBM over the devices each chip shows (v4 shows two per chip)."""
  per_chip = len(devices) / len({tuple(d.coords) for d in devices})
  return int(HBM_GIB[name.partition(':')[0]] * 2**30 / per_chip)


def memory(compiled, hbm_bytes: int | None) -> dict:
  """XLA's memory plan per device; the total counts a donated (aliased) buffer once."""
  m = compiled.memory_analysis()
  out = {'arguments': m.argument_size_in_bytes, 'outputs': m.output_size_in_bytes,
         'aliased': m.alias_size_in_bytes, 'temporaries': m.temp_size_in_bytes,
         'code': m.generated_code_size_in_bytes}
  out['total'] = (out['arguments'] + out['outputs'] - out['aliased'] + out['temporaries']
                  + out['code'])
  if hbm_bytes:
    out['hbm'] = hbm_bytes
    out['fits'] = out['total'] <= hbm_bytes
  return out


def cost(compiled) -> dict:
  """FLOPs, bytes accessed, transcendentals and XLA's time estimate (TPU only) per device.

  The TPU model prices a ConcatBitcast custom call (libtpu's, in vmapped and M2 programs) at
  -1 s, meaning no estimate; optimal_seconds here leaves those calls out (counted in
  'unpriced_calls'), which makes it more optimistic still.
  """
  c = compiled.cost_analysis()
  out = {'flops': c.get('flops', 0.0), 'bytes_accessed': c.get('bytes accessed', 0.0),
         'transcendentals': c.get('transcendentals', 0.0),
         'optimal_seconds': c.get('optimal_seconds'), 'unpriced_calls': 0}
  if out['optimal_seconds'] is not None and out['optimal_seconds'] < 0:
    out['unpriced_calls'] = compiled.as_text().count(UNPRICED)
    out['optimal_seconds'] += out['unpriced_calls']
    if out['optimal_seconds'] < 0:
      raise RuntimeError(f'XLA gave a negative time estimate, {c["optimal_seconds"]} s')
  return out


# The projections: pure arithmetic on the cost figures (tests/test_compile_for.py checks it).

def schedule_seconds(step_seconds: float, steps_per_epoch: int, epochs: int = EPOCHS) -> float:
  return step_seconds * steps_per_epoch * epochs


def num_evaluations(epochs: int, every: int) -> int:
  """How many test evaluations a run makes (runs.RunDir: every `every` epochs, and the last)."""
  periodic = len([e for e in range(epochs - 1) if every > 0 and (e + 1) % every == 0])
  return periodic + 1


def evaluation_seconds(chunk_seconds: float, num_images: int, batch_size: int,
                       num_samples: int, chunk_size: int) -> float:
  """One importance-sampled evaluation: batches x chunks calls of one chunk of one batch."""
  return chunk_seconds * math.ceil(num_images / batch_size) * math.ceil(num_samples / chunk_size)


def table_projection(cell_step_seconds: dict, table_step_seconds: float, steps_per_epoch: int,
                     evaluation: float, evaluations: int, epochs: int = EPOCHS) -> dict:
  """Projected hours of a table: each cell (training, and its evaluations), the cells one
  after another, and one program training every cell (each still evaluated alone)."""
  hours = lambda s: s / 3600
  evals = evaluation * evaluations
  cells = {name: {'train_hours': hours(schedule_seconds(s, steps_per_epoch, epochs)),
                  'evaluation_hours': hours(evals),
                  'hours': hours(schedule_seconds(s, steps_per_epoch, epochs) + evals)}
           for name, s in cell_step_seconds.items()}
  one_after_another = sum(c['hours'] for c in cells.values())
  one_program = hours(schedule_seconds(table_step_seconds, steps_per_epoch, epochs)
                      + evals * len(cells))
  return {'cells': cells, 'one_after_another_hours': one_after_another,
          'one_program_hours': one_program,
          'one_program_over_one_after_another': one_program / one_after_another}


class Compiler:
  """Compiles programs for one set of devices and keeps what each reports."""

  def __init__(self, devices: list, hbm_bytes: int | None):
    self.devices, self.hbm_bytes, self.results = devices, hbm_bytes, {}

  def add(self, key: str, what: str, whole=None, step=None) -> dict:
    """Compiles `whole` (memory, and its cost as reported) and `step` (the cost per step)."""
    entry = {'what': what}
    for part, program in (('whole_program', whole), ('per_step', step)):
      if program is None:
        continue
      start = time.perf_counter()
      compiled = programs.compile_program(program)
      entry[part] = {'compile_seconds': round(time.perf_counter() - start, 1),
                     'devices': int(program.mesh.devices.size), 'cost': cost(compiled)}
      if part == 'whole_program':
        entry[part].update(memory=memory(compiled, self.hbm_bytes), steps=program.steps)
      else:
        entry[part].update(examples_per_step=program.examples_per_step, models=program.models)
      print(_line(key, part, entry[part]), flush=True)
    self.results[key] = entry
    return entry

  def step_seconds(self, key: str) -> float:
    return self.results[key]['per_step']['cost']['optimal_seconds']


def _line(key: str, part: str, e: dict) -> str:
  c = e['cost']
  text = f'{key:34s} {part:13s} on {e["devices"]} device(s): {c["flops"] / 1e6:10.1f} MFLOP'
  text += f' {c["bytes_accessed"] / 1e6:8.1f} MB accessed'
  if c['optimal_seconds'] is not None:
    text += f' {c["optimal_seconds"] * 1e6:9.1f} us (estimate)'
  if 'memory' in e:
    m = e['memory']
    text += f' | memory {m["total"] / 2**20:8.1f} MiB'
    if 'fits' in m:
      text += ' fits' if m['fits'] else ' DOES NOT FIT'
  return text


def compile_all(compiler: Compiler, groups: list[str], dataset) -> dict:
  """Compiles the chosen groups' programs; returns the projections from their costs."""
  devices, projections = compiler.devices, {}
  configs = {'one_layer': programs.one_layer_config, 'two_layer': programs.two_layer_config}
  for arch, make in configs.items():
    base = make()
    if 'cells' in groups:
      for objective, k in programs.TABLE1_CELLS:
        config = make(objective, k)
        whole = (programs.train_epoch(config, dataset, devices)
                 if (arch, objective, k) in WHOLE_EPOCHS else None)
        compiler.add(f'{arch}/{objective}_k{k}', f'one run\'s scanned epoch, {arch}, batch '
                     f'{config.batch_size}, {objective} K = {k}', whole,
                     programs.train_epoch(config, dataset, devices, num_steps=1))
    if 'table1' in groups:
      compiler.add(f'{arch}/table1', f'the five Table-1 cells of {arch} as one program',
                   programs.table1_epoch(base, dataset, devices),
                   programs.table1_epoch(base, dataset, devices, num_steps=1))
    if 'evaluation' in groups:
      compiler.add(f'{arch}/importance_sampling', f'{base.eval_num_samples}-sample importance-'
                   f'sampled log p(x) of {base.eval_batch_size} images, {arch}',
                   programs.importance_sampling(base, dataset, devices, base.eval_num_samples),
                   programs.importance_sampling(base, dataset, devices, base.eval_chunk_size))
    if {'cells', 'table1', 'evaluation'} <= set(groups):
      projections[arch] = _table(compiler, arch, base)
  if 'data_parallel' in groups and len(devices) > 1:
    base = programs.one_layer_config()
    for key, builder in (('one_layer/iwae_k50', programs.train_epoch),
                         ('one_layer/table1', programs.table1_epoch)):
      whole = builder(base, dataset, devices, data_parallel=True)
      compiler.add(f'{key}/data_parallel', f'{key} with each batch split over '
                   f'{whole.mesh.devices.size} devices', whole,
                   builder(base, dataset, devices, num_steps=1, data_parallel=True))
    projections['one_layer_data_parallel'] = _data_parallel(compiler)
  if 'latent_sweep' in groups:
    projections['latent_sweep'] = _latent_sweep(compiler, dataset)
  if 'ais' in groups:
    projections['ais'] = _ais(compiler, dataset)
  if 'm2' in groups:
    config = programs.m2_config()
    whole = programs.m2_epoch(config, devices)
    compiler.add('m2', 'M2\'s scanned epoch (100 labels, 100 + 100 images a step)', whole,
                 programs.m2_epoch(config, devices, num_steps=1))
    projections['m2'] = {'epochs': config.num_epochs, 'train_hours': schedule_seconds(
        compiler.step_seconds('m2'), whole.steps, config.num_epochs) / 3600}
  if 'one_layer' in projections and 'two_layer' in projections:
    projections['whole_table'] = {
        f'{way}_hours': projections['one_layer'][f'{way}_hours'] +
        projections['two_layer'][f'{way}_hours'] for way in ('one_after_another', 'one_program')}
  return projections


def _table(compiler: Compiler, arch: str, base) -> dict:
  steps = compiler.results[f'{arch}/table1']['whole_program']['steps']
  evaluation = evaluation_seconds(compiler.step_seconds(f'{arch}/importance_sampling'),
                                  TEST_IMAGES, base.eval_batch_size, base.eval_num_samples,
                                  base.eval_chunk_size)
  return table_projection(
      {f'{o}_k{k}': compiler.step_seconds(f'{arch}/{o}_k{k}') for o, k in programs.TABLE1_CELLS},
      compiler.step_seconds(f'{arch}/table1'), steps, evaluation,
      num_evaluations(base.num_epochs, base.eval_every_epochs), base.num_epochs)


def _data_parallel(compiler: Compiler) -> dict:
  """Training hours of the IWAE K = 50 cell and of the one-layer table as one program, each
  batch split over the devices."""
  hours = {}
  for key in ('one_layer/iwae_k50', 'one_layer/table1'):
    entry = compiler.results[f'{key}/data_parallel']
    hours[f'{key.split("/")[1]}_train_hours'] = schedule_seconds(
        compiler.step_seconds(f'{key}/data_parallel'), entry['whole_program']['steps']) / 3600
  return dict(hours, devices=entry['per_step']['devices'])


def _latent_sweep(compiler: Compiler, dataset) -> dict:
  """sweep_latent.py's members as one program (spread over the devices) and one after another
  (each alone on one device, as --strategy=sequential trains them)."""
  config, devices = programs.sweep_config(), compiler.devices
  dims, seeds = programs.SWEEP_LATENT_DIMS, programs.SWEEP_SEEDS
  compiler.add('latent_sweep', f'sweep_latent.py\'s vmapped program: latent sizes {dims} x '
               f'seeds {seeds}, IWAE K = {config.num_samples}, batch {config.batch_size}',
               programs.latent_sweep_epoch(config, dataset, devices, dims, seeds),
               programs.latent_sweep_epoch(config, dataset, devices, dims, seeds, num_steps=1))
  vmapped = compiler.step_seconds('latent_sweep')
  one_device = vmapped
  if compiler.results['latent_sweep']['per_step']['devices'] > 1:
    compiler.add('latent_sweep/one_device', 'the same program on one device', None,
                 programs.latent_sweep_epoch(config, dataset, devices[:1], dims, seeds,
                                             num_steps=1))
    one_device = compiler.step_seconds('latent_sweep/one_device')
  alone = 0.0
  for dim in dims:
    member = config.copy_and_resolve_references()
    member.latent_dim = dim
    compiler.add(f'latent_sweep/alone_latent{dim}', f'one member alone, latent size {dim}',
                 None, programs.train_epoch(member, dataset, devices, num_steps=1))
    alone += len(seeds) * compiler.step_seconds(f'latent_sweep/alone_latent{dim}')
  return {'members': len(dims) * len(seeds),
          'devices': compiler.results['latent_sweep']['per_step']['devices'],
          'step_seconds_one_program': vmapped,
          'step_seconds_one_program_one_device': one_device,
          'step_seconds_one_after_another': alone,
          'one_program_over_one_after_another': vmapped / alone,
          'one_program_one_device_over_one_after_another': one_device / alone}


def _ais(compiler: Compiler, dataset) -> dict:
  """AIS of one batch: memory from the whole program; time from its unit of work, one value
  and gradient of log p(x, z) per chain, which it computes 2 T (L + 1) times."""
  config, devices, batch = programs.one_layer_config(), compiler.devices, 20
  options = programs.ais_options()
  compiler.add('ais', f'AIS of {batch} images, T = {options.num_steps}, {options.num_chains} '
               f'chains, L = {options.num_leapfrog_steps}, one_layer',
               programs.ais_batch(config, dataset, devices, options, batch))
  compiler.add('ais/gradient', 'one value and gradient of log p(x, z) at every chain of the '
               'batch', None,
               programs.ais_gradient(config, dataset, devices, options.num_chains, batch))
  evaluations = 2 * options.num_steps * (options.num_leapfrog_steps + 1)
  seconds = evaluations * compiler.step_seconds('ais/gradient')
  return {'images': batch, 'gradient_evaluations': evaluations, 'batch_seconds': seconds,
          'seconds_per_100_images': seconds * 100 / batch}


def measure_cpu(dataset, seconds: float) -> dict:
  """Real epochs timed on this CPU beside the cost XLA's CPU backend compiles for their step.

  XLA's CPU backend gives no time estimate, so the bound beside the measurement is the kind the
  TPU model gives, FLOPs / this CPU's measured matmul rate; measured / bound says how
  optimistic such a bound is for these steps. The memory term, bytes accessed / the measured
  read bandwidth, is beside it, not in it: on a CPU the bytes that stay in cache make it too
  high to bound anything.
  """
  cpu = jax.devices('cpu')
  peak_flops, peak_bytes = _cpu_peaks()
  out = {'peak_matmul_flop_per_s': peak_flops, 'peak_read_bytes_per_s': peak_bytes,
         'cpu_cores': os.cpu_count(), 'steps': {}}
  for objective, k in (('vae', 1), ('iwae', 5), ('iwae', 50)):
    config = programs.one_layer_config(objective, k)
    c = cost(programs.compile_program(programs.train_epoch(config, dataset, cpu, num_steps=1)))
    program = programs.train_epoch(config, dataset, cpu, num_steps=200)
    measured = _time_epoch(program, seconds)
    compute, memory_ = c['flops'] / peak_flops, c['bytes_accessed'] / peak_bytes
    out['steps'][f'{objective}_k{k}'] = {
        'cost': c, 'measured_step_seconds': measured, 'compute_seconds': compute,
        'memory_seconds': memory_, 'bound_step_seconds': compute,
        'measured_over_bound': measured / compute}
  return out


def _cpu_peaks() -> tuple[float, float]:
  """This CPU's float32 matmul FLOP/s and memory read bytes/s (a sum over 256 MB), each the
  best of a few runs."""
  a = jax.numpy.ones((1024, 1024), jax.numpy.float32)
  x = jax.numpy.ones((2**26,), jax.numpy.float32)
  best = lambda f, arg: min(_seconds(f, arg) for _ in range(5))
  return 2 * 1024**3 / best(jax.jit(lambda a: a @ a), a), x.nbytes / best(jax.jit(jax.numpy.sum), x)


def _seconds(f, arg) -> float:
  f(arg).block_until_ready()
  start = time.perf_counter()
  f(arg).block_until_ready()
  return time.perf_counter() - start


def _time_epoch(program, seconds: float) -> float:
  """Seconds per step of program (an epoch), its state carried from call to call."""
  state, *rest = programs.placed(program, program.make_args())
  state, metrics = program.fn(state, *rest)  # Compiles.
  metrics['loss'].block_until_ready()
  calls, start = 0, time.perf_counter()
  while calls == 0 or time.perf_counter() - start < seconds:
    state, metrics = program.fn(state, *rest)
    metrics['loss'].block_until_ready()
    calls += 1
  return (time.perf_counter() - start) / (calls * program.steps)


def summary(projections: dict, cpu_check: dict | None) -> str:
  """The projections and the CPU check as lines of text."""
  lines = [f'Projected hours, {EPOCHS} epochs ({ESTIMATE}):']
  for arch in ('one_layer', 'two_layer'):
    if arch in projections:
      p = projections[arch]
      cells = ', '.join(f'{n} {c["hours"]:.2f} (train {c["train_hours"]:.2f})'
                        for n, c in p['cells'].items())
      lines.append(f'  {arch}: {cells}; the table one cell after another '
                   f'{p["one_after_another_hours"]:.2f}, as one program '
                   f'{p["one_program_hours"]:.2f}')
  for key in ('whole_table', 'one_layer_data_parallel', 'latent_sweep', 'ais', 'm2'):
    if key in projections:
      lines.append(f'  {key}: ' + ', '.join(f'{k} {_short(v)}'
                                            for k, v in projections[key].items()))
  if cpu_check:
    lines.append('CPU check (this host, measured vs the bound from its compiled cost):')
    for name, c in cpu_check['steps'].items():
      lines.append(f'  {name}: measured {c["measured_step_seconds"] * 1e3:.3f} ms/step, '
                   f'bound (FLOPs at peak) {c["bound_step_seconds"] * 1e3:.3f} ms/step, '
                   f'measured / bound {c["measured_over_bound"]:.1f} (bytes at the read '
                   f'bandwidth: {c["memory_seconds"] * 1e3:.3f} ms)')
  return '\n'.join(lines)


def _short(value) -> str:
  return f'{value:.4g}' if isinstance(value, float) else str(value)


def main(argv):
  del argv
  unknown = sorted(set(_PROGRAMS.value) - set(GROUPS))
  if unknown:
    raise UserError(f'unknown --programs {unknown}; choose from {GROUPS}')
  name = _TOPOLOGY.value
  devices = topology_devices(name)
  compiler = Compiler(devices, hbm_per_device(name, devices))
  print(f'{name}: {len(devices)} devices ({devices[0].device_kind}), '
        f'{compiler.hbm_bytes / 2**30:.1f} GiB HBM each', flush=True)
  dataset = programs.load_mnist()
  projections = compile_all(compiler, _PROGRAMS.value, dataset)
  result = {'topology': name, 'devices': len(devices), 'device_kind': devices[0].device_kind,
            'hbm_bytes_per_device': compiler.hbm_bytes, 'jax': jax.__version__,
            'libtpu': importlib.metadata.version('libtpu'), 'estimate': ESTIMATE,
            'programs': compiler.results, 'projections': projections}
  if _CPU_CHECK_SECONDS.value > 0:
    result['cpu_check'] = measure_cpu(dataset, _CPU_CHECK_SECONDS.value)
  print(summary(projections, result.get('cpu_check')))
  out = pathlib.Path(_OUT.value or f'runs/compile_for/{name.replace(":", "_")}.json')
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=1) + '\n')
  print(f'wrote {out}')


if __name__ == '__main__':
  cli.run(main)
