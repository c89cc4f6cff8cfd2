"""Steady-state throughput of a compiled call, for the benchmark scripts."""

import time


def examples_per_second(run_once, examples_per_call: int, seconds: float) -> float:
  """Examples/s of run_once() (which must block), after one warm-up call."""
  run_once()
  calls, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    run_once()
    calls += 1
  return calls * examples_per_call / (time.perf_counter() - start)


def interleaved_examples_per_second(runs: dict, examples_per_call: int,
                                    seconds: float) -> dict:
  """Examples/s of each run_once() in runs (name -> callable that blocks), timed by turns
  (one call of each, then again) for about `seconds` in all, after one warm-up call each:
  examples_per_call over each one's median call time. Taking turns puts the same drift of a
  noisy machine on every run, so their ratios hold where back-to-back timings do not."""
  for run_once in runs.values():
    run_once()
  times = {name: [] for name in runs}
  start = time.perf_counter()
  while time.perf_counter() - start < seconds or len(times[next(iter(runs))]) < 3:
    for name, run_once in runs.items():
      call_start = time.perf_counter()
      run_once()
      times[name].append(time.perf_counter() - call_start)
  return {name: examples_per_call / sorted(t)[len(t) // 2] for name, t in times.items()}
