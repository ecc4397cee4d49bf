#!/usr/bin/env bash
# Execute notebooks/review.ipynb end to end on files the CLI writes in this run, so the
# notebook cannot drift from the Parquet and JSON contract (docs/cli.md): the report's
# forecasts and HPA replay of three days of the tidal trace, then every cell with nbclient. Any cell error
# fails. Then the notebook's own input checks are exercised: it must fail on a forecasts file
# without `upper` and on an empty replay. The committed notebook must have no outputs and is
# never written: the executed copy goes to a temporary directory, printed at the end.
#
# Usage: scripts/check-notebooks.sh [path/to/tidecast]   (default: builds target/debug/tidecast)
#
# Needs python3 with venv; polars, matplotlib, nbclient, nbformat and ipykernel come from PyPI
# (notebooks/requirements.txt) into a venv outside the clone ($NOTEBOOK_VENV), reinstalled
# only when requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/common.sh
venv=${NOTEBOOK_VENV:-$HOME/.cache/tidecast-notebook}
req=notebooks/requirements.txt
notebook=notebooks/review.ipynb
# The stretch: three days of the tidal trace (Asia/Shanghai evenings and mornings), an origin
# every hour 2 h ahead, and the HPA replay over the same days. Seconds with a debug build.
history=tests/data/tidal_lb_connections.csv
from=2026-10-20T00:00:00Z
to=2026-10-23T00:00:00Z
zone=Asia/Shanghai
# tests/data/hpa_tv_api.yaml targets 1000 connections per pod, what one pod handles (no
# headroom, as in scripts/bench-simulate.sh).
pod_capacity=1000

echo "--- tools"
if ! cmp -s "$req" "$venv/requirements.txt" || ! "$venv/bin/python" -c 'import polars' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$req"
  cp "$req" "$venv/requirements.txt"
fi
# Importing polars also catches a wheel built for CPU features this machine lacks (see the
# comment in requirements.txt).
"$venv/bin/python" -c 'import polars, matplotlib, nbclient, nbformat, ipykernel, sys
print(f"python {sys.version.split()[0]}, polars {polars.__version__}, matplotlib {matplotlib.__version__}, "
      f"nbclient {nbclient.__version__}, ipykernel {ipykernel.__version__}")'

bin=${1:-$(tidecast_bin)}
# Kept after the run: it holds the executed notebook to look at.
out=$(mktemp -d "${TMPDIR:-/tmp}/tidecast-notebooks.XXXXXX")

echo "--- inputs (tidecast report --parquet and simulate --json, $from .. $to)"
# The report's Parquet (every target in one file, a `target` column first) and the summary
# JSON of a simulate run over the same stretch with the same HPA.
"$bin" report --history "$history" --timezone "$zone" --from "$from" --to "$to" \
  --every 1h --horizon 2h --hpa tests/data/hpa_tv_api.yaml --pod-capacity "$pod_capacity" \
  --out "$out/report.html" --parquet "$out"
"$bin" simulate --history "$history" --hpa tests/data/hpa_tv_api.yaml \
  --pod-capacity "$pod_capacity" --timezone "$zone" --from "$from" --to "$to" \
  --json "$out/summary.json"
ls -l "$out"

echo "--- execute $notebook (nbclient, 300 s per cell)"
export TIDECAST_FORECASTS="$out/forecasts.parquet" TIDECAST_REPLAY="$out/replay.parquet" \
  TIDECAST_SUMMARY="$out/summary.json" TIDECAST_TIMEZONE="$zone" TIDECAST_INTERVAL=0.8
export MPLBACKEND=module://matplotlib_inline.backend_inline
"$venv/bin/python" - "$notebook" "$out" <<'PY'
import os, re, sys, time

import nbformat
import polars as pl
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

notebook, out = sys.argv[1:]
ansi = re.compile(r"\x1b\[[0-9;]*m")

committed = nbformat.read(notebook, as_version=4)
nbformat.validate(committed)
stale = [i for i, c in enumerate(committed.cells) if c.get("outputs") or c.get("execution_count") or "execution" in c.metadata]
if stale:
    sys.exit(f"FAIL: {notebook} is committed with outputs (cells {stale}): clear them (notebooks/README.md)")


def execute(target, **env):
    """Run every cell with the TIDECAST_* overrides in env; write the executed copy to target.
    Returns None on success, else the error text."""
    nb = nbformat.read(notebook, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t = time.monotonic()
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": out}}).execute()
        return None
    except CellExecutionError as e:
        return ansi.sub("", str(e))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        nbformat.write(nb, target)
        print(f"{target}: {time.monotonic() - t:.1f} s")


executed = os.path.join(out, "review.ipynb")
error = execute(executed)
if error:
    print(error)
    sys.exit(f"FAIL: {notebook} raised on the files the CLI wrote; the executed copy is {executed}")
nb = nbformat.read(executed, as_version=4)
figures = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
print(f"{notebook}: every cell ran, {figures} figures")

# The input checks must stay live: broken files have to stop the notebook, loudly.
broken = {
    "forecasts without upper": (
        dict(TIDECAST_FORECASTS=os.path.join(out, "no-upper.parquet")),
        lambda: pl.read_parquet(os.environ["TIDECAST_FORECASTS"]).drop("upper").write_parquet(os.path.join(out, "no-upper.parquet")),
        "missing columns ['upper']",
    ),
    "empty replay": (
        dict(TIDECAST_REPLAY=os.path.join(out, "empty-replay.parquet")),
        lambda: pl.read_parquet(os.environ["TIDECAST_REPLAY"]).clear().write_parquet(os.path.join(out, "empty-replay.parquet")),
        "empty-replay.parquet: no rows",
    ),
}
for name, (env, make, expected) in broken.items():
    make()
    error = execute(os.path.join(out, f"broken-{name.replace(' ', '-')}.ipynb"), **env)
    if error is None or "AssertionError" not in error or expected not in error:
        print(error or "(no error)")
        sys.exit(f"FAIL: {notebook} on {name}: expected an AssertionError saying {expected!r}")
    print(f"{name}: rejected ({expected})")
PY
echo "executed notebook: $out/review.ipynb"
echo "notebook checks passed"
