#!/usr/bin/env bash
# Install the package into .venv and run the demo: two jobs that print for about ten seconds,
# kept in demo.sqlite so that a second run finds them again.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/venv.sh

ensure_venv "sqlalchemy"
exec "$VENV/bin/python" examples/demo.py "$@"
