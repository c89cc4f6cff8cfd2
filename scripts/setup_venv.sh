# Sourced by the other scripts: creates .venv if absent and installs into it the exact versions
# of requirements.lock (scripts/lock.sh makes it), then vaejax itself, again only when
# pyproject.toml or the lock changes. A .venv that an interrupted set-up left half-made (no
# working pip) is made again, and an install that did not finish is redone.
# VAEJAX_EXTRAS=tpu also installs requirements-tpu.lock on top (libtpu, 700 MB: compiling for
# TPUs on this host, scripts/compile_for.py); without it nothing of it is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! .venv/bin/python -m pip --version > /dev/null 2>&1; then
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=".venv/installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  rm -f "$stamp"
  { .venv/bin/python -m pip install --require-hashes --requirement requirements.lock \
      && .venv/bin/python -m pip install --no-deps --editable . ; } > .venv/install.log 2>&1 \
    || { cat .venv/install.log; exit 1; }
  touch "$stamp"
fi
if [[ ",${VAEJAX_EXTRAS:-}," == *,tpu,* ]]; then
  tpu_stamp=".venv/installed-tpu"
  if [ ! -f "$tpu_stamp" ] || [ requirements-tpu.lock -nt "$tpu_stamp" ]; then
    .venv/bin/python -m pip install --require-hashes --no-deps --requirement requirements-tpu.lock \
      > .venv/install-tpu.log 2>&1 || { cat .venv/install-tpu.log; exit 1; }
    touch "$tpu_stamp"
  fi
fi
