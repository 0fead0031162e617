#!/usr/bin/env bash
# Install everything the test suite needs, then run it.
#
# Meant for Debian 12 with Python >= 3.10. As root, missing server packages are installed
# from Debian; as another user they must already be there (missing servers make their tests
# skip, or fail when CI=true). Arguments are passed on to pytest:
#
#     bash scripts/test.sh -k redis -x
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
EXTRAS="test,sqlalchemy,redis,mongodb,zookeeper,etcd"

# --- Debian packages: the database servers the store tests talk to ----------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || missing+=(zookeeper)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
# Debian splits venv/ensurepip out of the interpreter package.
"$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
        echo "Installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        echo "Not root, so not installing: ${missing[*]} (their tests will be skipped)" >&2
    fi
fi

# --- Python packages --------------------------------------------------------------------
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

# Reinstalling costs several seconds, so only do it when the package metadata (extras, entry
# points) or this script's requirement list changed since the last successful install.
stamp="$VENV/.test-requirements"
wanted=$(cat setup.cfg setup.py pyproject.toml "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    # setuptools in the venv itself: the plugin test installs a distribution without build
    # isolation, so it works without reaching a package index.
    "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]" "setuptools>=64" wheel
    echo "$wanted" >"$stamp"
fi

# --- Run --------------------------------------------------------------------------------
exec "$VENV/bin/python" -m pytest "$@"
