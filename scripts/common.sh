# Shared by the scripts in this folder (sourced, from the repository root).

# Build the tidecast binary with the given cargo profile (debug or release) and print its path.
tidecast_bin() {
  local profile=${1:-debug} flag=()
  [[ $profile == release ]] && flag=(--release)
  cargo build -q "${flag[@]}" -p tidecast
  echo "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/$profile/tidecast"
}

# The Python to score with: $PYTHON, else .venv/bin/python; a .venv with pandas and numpy is
# created when that one lacks them.
eval_python() {
  local py=${PYTHON:-.venv/bin/python}
  if ! "$py" -c 'import pandas, numpy' 2>/dev/null; then
    python3 -m venv .venv >&2 && .venv/bin/pip install -q pandas numpy >&2
    py=.venv/bin/python
  fi
  echo "$py"
}

# The first evaluation origin recorded in a baselines JSON (its last training point), read
# with the caller's $py (from eval_python).
first_origin() {
  "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup"]["first_origin"])' "$1"
}

# How many targets the server at URL serves fresh, from the fleet gauge (which /metrics
# carries whatever target_metrics says); curl options (CA, client certificate) follow.
fresh_targets() {
  local url=$1; shift
  curl -s "$@" "$url/metrics" | awk '$1 == "tidecast_targets{state=\"fresh\"}" {printf "%d", $2; found = 1} END {if (!found) print 0}'
}
