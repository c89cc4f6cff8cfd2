"""scripts/timing.py: the benchmarks' speeds, on a fake clock."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'scripts'))
import timing  # pylint: disable=g-import-not-at-top  (scripts/ is not installed)


class FakeClock:
  now = 0.0

  def perf_counter(self):
    return self.now


def test_interleaved_speeds_take_turns_skip_the_warm_up_and_use_the_median(monkeypatch):
  clock = FakeClock()
  monkeypatch.setattr(timing, 'time', clock)
  calls = []

  def run(name, durations):
    def run_once():
      calls.append(name)
      clock.now += durations[min(calls.count(name) - 1, len(durations) - 1)]
    return run_once

  # a: a warm-up (compile) of 100 s, then 1 s a call but one stall of 50 s; b: 3 s a call.
  speeds = timing.interleaved_examples_per_second(
      {'a': run('a', [100.0, 1.0, 50.0, 1.0]), 'b': run('b', [3.0])}, 12, seconds=20.0)
  assert calls[:2] == ['a', 'b'] and calls[2:] == ['a', 'b'] * ((len(calls) - 2) // 2)
  assert len(calls) > 6
  assert speeds == {'a': 12.0, 'b': 4.0}
