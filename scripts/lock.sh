#!/usr/bin/env bash
# Regenerates requirements.lock, the exact versions (with hashes) that scripts/setup_venv.sh
# installs, from pyproject.toml's ranges and the test extras: run it after changing
# pyproject.toml's dependencies. Versions already in the lock are kept where they still fit;
# scripts/lock.sh --upgrade moves every package to its newest allowed version. Needs PyPI.
#
# It also writes requirements-tpu.lock: what the tpu extra (libtpu) adds to requirements.lock,
# resolved with requirements.lock's versions held fixed, so that installing it on top
# (VAEJAX_EXTRAS=tpu scripts/setup_venv.sh) changes nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
python3 -m venv "$tool"
"$tool/bin/python" -m pip install --quiet uv
compile() {
  "$tool/bin/uv" pip compile pyproject.toml --universal --generate-hashes \
    --index-url https://pypi.org/simple --quiet "$@"
}
compile --extra test --output-file requirements.lock "$@"
# requirements.lock's pins (name==version and any marker), as constraints; its packages left out.
sed -n 's/^\([A-Za-z0-9][^ ]*==[^ ]*\)\( ;[^\\]*\)\{0,1\} *\\\{0,1\}$/\1\2/p' requirements.lock \
  > "$tool/pins.txt"
excluded=()
for name in $(sed -n 's/^\([A-Za-z0-9][^ =]*\)==.*/\1/p' requirements.lock); do
  excluded+=(--no-emit-package "$name")
done
compile --extra test --extra tpu --constraint "$tool/pins.txt" "${excluded[@]}" --no-header \
  --output-file "$tool/tpu.lock"
{
  echo '# What the tpu extra adds to requirements.lock (scripts/lock.sh writes both; install it'
  echo '# on top with --no-deps: VAEJAX_EXTRAS=tpu scripts/setup_venv.sh).'
  sed -n '/^[A-Za-z0-9]/,/^$/p' "$tool/tpu.lock" | sed '/^$/d'
} > requirements-tpu.lock
