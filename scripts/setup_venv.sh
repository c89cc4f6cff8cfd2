# Sourced by the other scripts: creates .venv if absent and installs vaejax into it.
# Usage: source scripts/setup_venv.sh [EXTRAS]   (e.g. "test")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
.venv/bin/python -m pip install --quiet --editable "$spec"
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
