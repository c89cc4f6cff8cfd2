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
