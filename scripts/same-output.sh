#!/usr/bin/env bash
# Byte-identical backtests of two builds: a refactor's proof of "no change in output".
#
#   scripts/same-output.sh BASE_REV      # compare BASE_REV against the working tree
#
# Both sides run the accuracy tests (every given series and the 19 held-out series, the
# derived ones rebuilt as tests/accuracy.rs builds them) keeping each backtest file, plus
# backtests of every other series in tests/data with each model; then every file is compared
# byte for byte. Exits non-zero, naming the files, when any differs.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/same-output.sh BASE_REV}
out=$(mktemp -d)
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -rf "$tree"' EXIT
git worktree add --detach "$tree" "$base" >/dev/null
# Each side builds in its own target directory: cargo names a workspace's artifacts by their
# path inside the workspace, so two checkouts sharing one would overwrite each other's.
target=${CARGO_TARGET_DIR:-$HOME/.cache/tidecast-target}

run_side() { # DIR NAME TARGET_DIR
  local dir=$1 keep=$out/$2
  export CARGO_TARGET_DIR=$3
  mkdir -p "$keep"
  (cd "$dir" && TIDECAST_KEEP_BACKTESTS=$keep cargo test -q -p tidecast --test accuracy >&2)
  (cd "$dir" && cargo build -q -p tidecast >&2)
  local bin=$CARGO_TARGET_DIR/debug/tidecast
  for f in tests/data/tidal_lb_connections.csv; do
    local name
    name=$(basename "$f" .csv)
    for model in auto tidal snaive-day snaive-week; do
      "$bin" backtest --history "$dir/$f" --from 2026-10-22T00:00:00Z --every 1h \
        --horizon 60m --timezone Asia/Shanghai --model "$model" --quiet \
        --out "$keep/$name.$model.forecast.csv"
    done
  done
}

run_side "$tree" base "$target-base"
run_side "$PWD" head "$target"
if diff -r -q "$out/base" "$out/head"; then
  echo "identical: $(find "$out/head" -type f | wc -l) backtest files, $(cat "$out"/head/* | wc -c) bytes"
else
  echo "backtests differ (kept in $out)" >&2
  exit 1
fi
