#!/usr/bin/env bash
# The device check for the day a GPU is lent (a few minutes; well under 10): installs the CUDA
# plugin of the locked jax into .venv, then scripts/device_check.py times the scanned epoch of
# every Table-1 cell (batch 20, K = 1, 5, 50) and the five cells as one program for a fixed
# number of steps, checks that two runs of one seed are identical under
# --xla_gpu_deterministic_ops, times AIS on 100 test images, and writes one JSON file.
#
#   scripts/device_check.sh                           # GPU: runs/device_check.json
#   scripts/device_check.sh --cpu --out=/tmp/x.json   # anywhere: the same steps, tiny sizes
#
# Further arguments go to scripts/device_check.py (--out, --steps, --ais_images, ...).
source "$(dirname "$0")/setup_venv.sh"
if [ "${1:-}" = "--cpu" ]; then
  shift
  # XLA's CPU optimizations off: this check is that every step runs, not their speed, and it
  # compiles in about 60% of the CPU time.
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
  JAX_PLATFORMS=cpu exec .venv/bin/python scripts/device_check.py --tiny "$@"
fi
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi > /dev/null 2>&1; then
  echo "error: no GPU here (nvidia-smi finds none); scripts/device_check.sh --cpu runs the" \
    "tiny CPU check" >&2
  exit 1
fi
jax_version="$(sed -n 's/^jax==\([^ ]*\) .*/\1/p' requirements.lock)"
.venv/bin/python -m pip install --quiet "jax[cuda12]==$jax_version"
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true"
exec .venv/bin/python scripts/device_check.py "$@"
