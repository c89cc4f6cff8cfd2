#!/usr/bin/env bash
# Regenerates requirements.lock, the exact versions (with hashes) that scripts/setup_venv.sh
# installs, from pyproject.toml's ranges and the test extras: run it after changing
# pyproject.toml's dependencies. Versions already in the lock are kept where they still fit;
# scripts/lock.sh --upgrade moves every package to its newest allowed version. Needs PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
python3 -m venv "$tool"
"$tool/bin/python" -m pip install --quiet uv
"$tool/bin/uv" pip compile pyproject.toml --extra test --universal --generate-hashes \
  --index-url https://pypi.org/simple --quiet --output-file requirements.lock "$@"
