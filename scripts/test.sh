#!/usr/bin/env bash
# Runs the whole test suite on CPU, after creating .venv if absent: one pytest worker per core
# (pytest-xdist, work stealing), sharing a compilation cache for the run (the tests
# compile many identical tiny programs; compiling is most of their time). The sharding tests
# run in a second pytest run with 8 simulated CPU devices (splitting the CPU slows
# everything else), after it, also a worker per core. Extra arguments go to both, e.g.
# scripts/test.sh -k sweep
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
JAX_COMPILATION_CACHE_DIR="$(mktemp -d)"
trap 'rm -rf "$JAX_COMPILATION_CACHE_DIR"' EXIT
export JAX_COMPILATION_CACHE_DIR JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1
# LLVM's optimization level 1, for the tests only: their programs are tiny and compiling them
# is most of the suite's time (level 1 compiles faster than the default and still vectorizes;
# level 0 halves the speed of the full-MNIST tests). Numbers agree with the default level's to
# float rounding, not bit for bit (the golden losses move by ~1e-7 relative; their tests
# allow 1e-5); the bit-for-bit tests compare runs made at one level.
# And XLA's older CPU fusion emitters, for the tests only: they compile the same programs in
# about two thirds of the time (measured on M2's epoch: 2.9-3.3 s against 4.4-5.1 s; the
# suite's train, M2, discrete and crash tests in 206 s against 251 s).
export XLA_FLAGS="--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false ${XLA_FLAGS:-}"
main=0 sharded=0
.venv/bin/python -m pytest -q -n auto --dist worksteal -m "not multidevice" "$@" || main=$?
JAX_NUM_CPU_DEVICES=8 .venv/bin/python -m pytest -q -n auto -m multidevice "$@" || sharded=$?
# 5: no test selected (e.g. a -k that matches only one of the two sets) counts as a pass.
for status in "$main" "$sharded"; do
  if (( status != 0 && status != 5 )); then exit "$status"; fi
done
