#!/usr/bin/env bash
# Runs the whole test suite on CPU (a few minutes on 2 cores), after creating .venv if absent.
# Extra arguments go to pytest, e.g. scripts/test.sh -k objectives
EXTRAS=test source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
exec .venv/bin/python -m pytest -q "$@"
