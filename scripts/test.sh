#!/usr/bin/env bash
# Install everything the test suite needs, then run it.
#
# Meant for Debian 12 with Python >= 3.10. As root, missing server packages are installed
# from Debian; as another user they must already be there (missing servers make their tests
# skip, or fail when CI=true). Without arguments it also runs mypy on the package; arguments
# are passed on to pytest:
#
#     bash scripts/test.sh -k redis -x
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/venv.sh

# --- Debian packages: the database servers the store tests talk to ----------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# Debian puts mariadbd in /usr/sbin, which is not on every user's PATH
PATH="$PATH:/usr/sbin" command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
# the web dashboard's tests drive a real headless browser
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# Debian ships venv and ensurepip apart from the interpreter.
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

# --- Python packages, then the tests ----------------------------------------------------
ensure_venv "test,doc,sqlalchemy,redis,mongodb,zookeeper,etcd,rethinkdb,gevent,tornado,twisted,qt,prometheus,opentelemetry,celery,rq,dramatiq"
# The whole run checks the package's types first (settings in pyproject.toml); a run with
# pytest arguments is a partial one and skips it.
if (($# == 0)); then
    "$VENV/bin/python" -m mypy
fi
exec "$VENV/bin/python" -m pytest "$@"
