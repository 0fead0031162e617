# Sourced by the other scripts: makes sure .venv exists and holds the package with the given
# extras. Reinstalling costs several seconds, so it is skipped while the package metadata
# (dependencies, extras, entry points) is unchanged since the last successful install.
#
#     ensure_venv "test,redis"

PYTHON=${PYTHON:-python3}
VENV=.venv

ensure_venv() {
    local extras=$1
    if [ ! -x "$VENV/bin/python" ]; then
        # Debian ships venv and ensurepip apart from the interpreter
        if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                python3-venv >/dev/null
        fi
        "$PYTHON" -m venv "$VENV"
    fi

    local stamp="$VENV/.installed-${extras//,/-}"
    local wanted
    wanted=$(cat setup.cfg setup.py pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "Installing the package with extras [$extras] into $VENV"
        # Build warnings would bury the test output; show them only when the install fails.
        if ! "$VENV/bin/python" -m pip install -q -e ".[$extras]" >"$VENV/pip.log" 2>&1; then
            cat "$VENV/pip.log" >&2
            return 1
        fi
        echo "$wanted" >"$stamp"
    fi
}
