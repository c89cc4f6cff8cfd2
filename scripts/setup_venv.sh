# Sourced by the other scripts: creates .venv if absent and installs into it the exact versions
# of requirements.lock (scripts/lock.sh makes it), then vaejax itself, again only when
# pyproject.toml or the lock changes. A .venv that an interrupted set-up left half-made (no
# working pip) is made again, and an install that did not finish is redone.
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
