#!/usr/bin/env bash
# Fails when `nbdev_export` or `nbdev_clean` would change anything under nbs/ or l3/ (CI runs this first).
set -euo pipefail
cd "$(dirname "$0")/.."
python tools/make_readme.py --check
snap() { find nbs l3 -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -not -path '*/__pycache__/*' | sort | xargs sha1sum; }
before=$(snap)
timeout 300 nbdev_export
timeout 300 nbdev_clean
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "nbdev_export / nbdev_clean changed these files; run them and commit the result:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "notebooks and library in sync, notebooks clean"
