#!/usr/bin/env bash
# The test suite's wall time at two revisions, alternating: each revision is checked out in a
# worktree beside this one (so `../shared`-relative paths resolve alike), built with its own
# target directory, then `cargo test --workspace --locked` runs ROUNDS times for each in turn.
# Prints each run's wall time and the time of each test binary, so an added test and a slower
# test can be told apart. Removes the worktrees and target directories at the end.
# Usage: [ROUNDS=3] scripts/suite-ab.sh REV_A REV_B     e.g. scripts/suite-ab.sh 66166e2 47e6827
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
root=$(cd .. && pwd)
revs=("$1" "$2")
trees=()
cleanup() {
  for t in "${trees[@]}"; do git worktree remove --force "$t" 2>/dev/null || true; rm -rf "$t.target" "$t.build" "$t.run"; done
}
trap cleanup EXIT
for r in "${revs[@]}"; do
  t="$root/suite-ab-$r"
  git worktree add -q --detach "$t" "$r"
  trees+=("$t")
  echo "building $r"
  (cd "$t" && CARGO_TARGET_DIR="$t.target" CARGO_INCREMENTAL=0 cargo test --workspace --locked --no-run > "$t.build" 2>&1) \
    || { tail "$t.build"; exit 1; }
done
for round in $(seq "$rounds"); do
  for i in 0 1; do
    r=${revs[$i]}; t=${trees[$i]}
    s=$(date +%s.%N)
    (cd "$t" && CARGO_TARGET_DIR="$t.target" CARGO_INCREMENTAL=0 cargo test --workspace --locked > "$t.run" 2>&1) \
      || echo "$r: the suite failed (round $round)"
    e=$(date +%s.%N)
    python3 - "$r" "$round" "$(echo "$e - $s" | bc)" "$t.run" <<'PY'
import re, sys
rev, rnd, wall, path = sys.argv[1:]
name, rows = None, []
for line in open(path):
    m = re.match(r"\s*(Running|Doc-tests) (?:unittests )?(\S+)(?: \(([^)]+)\))?", line)
    if m:
        name = re.sub(r"-[0-9a-f]{16}$", "", m.group(3).split("/")[-1]) if m.group(3) else m.group(2)
    m = re.match(r"test result: \w+\. (\d+) passed.*finished in ([0-9.]+)s", line)
    if m and name:
        rows.append((name, int(m.group(1)), float(m.group(2))))
tests = sum(r[1] for r in rows)
print(f"{rev} round {rnd}: {float(wall):.1f} s wall, {tests} tests, binaries {sum(r[2] for r in rows):.2f} s: "
      + ", ".join(f"{n} {t:.2f}" for n, _, t in rows if t >= 0.1))
PY
  done
done
