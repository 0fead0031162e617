# Sourced by the other scripts: makes sure .venv exists and holds the package with the given
# extras. Reinstalling costs several seconds, so it is skipped while the package metadata
# (dependencies, extras, entry points) is unchanged since the last successful install.
#
#     ensure_venv "test,redis"

PYTHON=${PYTHON:-python3}
VENV=.venv

ensure_venv() {
    local extras=$1
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

    local stamp="$VENV/.installed-${extras//,/-}"
    local wanted
    wanted=$(cat setup.cfg setup.py pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        "$VENV/bin/python" -m pip install -q -e ".[$extras]"
        echo "$wanted" >"$stamp"
    fi
}
