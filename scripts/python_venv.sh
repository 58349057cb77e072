#!/usr/bin/env bash
# Creates (or updates) the virtual environment of the Python reference tools the tests use
# (scripts/python_requirements.txt) and prints its python's path on the last line. Idempotent:
# a venv whose requirements are unchanged is reused without asking PyPI.
#   DUET_VENV   where it lives (default: ~/.cache/duet/venv, outside the work tree)
# Exits non-zero when the venv or a package cannot be installed (no network, no PyPI): the
# tests that need it then skip.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DUET_VENV:-$HOME/.cache/duet/venv}
REQ=scripts/python_requirements.txt
STAMP="$VENV/.duet-requirements"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && cmp -s "$REQ" "$STAMP"; then
  echo "$VENV/bin/python"
  exit 0
fi
# --system-site-packages: Debian's torch 1.13 (the reference of other tests) stays visible.
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV" >&2 ||
    { echo "python_venv: cannot create $VENV (python3-venv missing?)" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install --quiet -r "$REQ" >&2 ||
  { echo "python_venv: pip install -r $REQ failed" >&2; exit 1; }
cp "$REQ" "$STAMP"
echo "$VENV/bin/python"
