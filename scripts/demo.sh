#!/usr/bin/env bash
# Install the package into .venv and run the demo schedule (examples/schedule.toml) with the
# apscheduler command for about twelve seconds, then list what ran. The jobs and their runs are
# kept in demo-schedule.sqlite, so a second run finds them again.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/venv.sh

ensure_venv "sqlalchemy"
"$VENV/bin/apscheduler" run examples/schedule.toml --reconcile --duration "${DEMO_SECONDS:-12}" "$@"
echo
echo "The last runs the store recorded:"
"$VENV/bin/apscheduler" jobs --config examples/schedule.toml runs -n 5
