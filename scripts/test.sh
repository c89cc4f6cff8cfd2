#!/usr/bin/env bash
# Runs the whole test suite on CPU (about 22 minutes on 2 cores), after creating .venv if absent.
# The sharding tests run in a second pytest process with 8 simulated CPU devices (splitting
# the CPU slows everything else). Extra arguments go to both, e.g. scripts/test.sh -k sweep
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
status=0
.venv/bin/python -m pytest -q -m "not multidevice" "$@" || status=$?
JAX_NUM_CPU_DEVICES=8 .venv/bin/python -m pytest -q -m multidevice "$@" || status=$?
# 5: no test selected (e.g. a -k that matches only one of the two sets).
exit $(( status == 5 ? 0 : status ))
