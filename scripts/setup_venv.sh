# Sourced by the other scripts: creates .venv if absent and installs vaejax into it (again
# only when pyproject.toml changes). With EXTRAS=test set, also installs the test extras.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
spec="."
[ -n "${EXTRAS:-}" ] && spec=".[$EXTRAS]"
stamp=".venv/installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --editable "$spec" > .venv/install.log 2>&1 \
    || { cat .venv/install.log; exit 1; }
  touch "$stamp"
fi
