# Sourced by ./run-demo and ./run-tests: make_venv picks the Python and sets up .venv.
#
# The suite passes on Python 3.11-3.13: its upper end is the newest Python that
# TensorFlow 2.21 (the reference the parity tests check against) has wheels for;
# keep it equal to requires-python in pyproject.toml.
SUPPORTED_MINORS="13 12 11"   # newest first: the order candidates are tried in
SUPPORTED="3.11-3.13"

# "3.12" when $1 runs, nothing otherwise (a pyenv shim for an unselected version exits non-zero).
python_version() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

is_supported() {
    local minor
    for minor in $SUPPORTED_MINORS; do
        [ "$1" = "3.$minor" ] && return 0
    done
    return 1
}

# The interpreter to build .venv with: $PYTHON if set (refused outside the supported
# range), else the first of python3.13, python3.12, python3.11, python3 that runs
# and is supported.
choose_python() {
    local candidate version
    if [ -n "${PYTHON:-}" ]; then
        version=$(python_version "$PYTHON") || true
        if [ -z "$version" ]; then
            echo "PYTHON=$PYTHON does not run" >&2
            return 1
        fi
        if ! is_supported "$version"; then
            echo "PYTHON=$PYTHON is Python $version; npnet's test suite runs on Python $SUPPORTED" >&2
            return 1
        fi
        echo "$PYTHON"
        return 0
    fi
    for candidate in $(for minor in $SUPPORTED_MINORS; do echo "python3.$minor"; done) python3; do
        version=$(python_version "$candidate") || continue
        is_supported "$version" && { echo "$candidate"; return 0; }
    done
    echo "no Python $SUPPORTED found (tried $(for minor in $SUPPORTED_MINORS; do printf 'python3.%s, ' "$minor"; done)python3);" \
         "install one or set PYTHON=/path/to/python3.x" >&2
    return 1
}

# Set up .venv with npnet and the extra $1, saying which Python it runs on. An existing
# .venv is kept when its Python runs, is supported and matches PYTHON (if set);
# otherwise it is rebuilt, and the reason printed.
make_venv() {
    local extra=$1 have chosen want
    have=$(python_version .venv/bin/python) || true
    if [ -n "$have" ] && is_supported "$have" && [ -z "${PYTHON:-}" ]; then
        echo "Python $have, from the existing .venv" >&2
    else
        chosen=$(choose_python) || return 1
        want=$(python_version "$chosen")
        if [ -n "$have" ] && [ "$have" = "$want" ]; then
            echo "Python $have, from the existing .venv (PYTHON=${PYTHON:-} is the same version)" >&2
        else
            if [ -e .venv ]; then
                echo ".venv was made by ${have:+Python }${have:-a Python that no longer runs}; rebuilding it with $chosen (Python $want)" >&2
                rm -rf .venv
            fi
            echo "Python $want ($(command -v "$chosen")) for .venv" >&2
            "$chosen" -m venv .venv
        fi
    fi
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[$extra]"
}
