"""The best Python method of ../shared/data/README.md (statsforecast MSTL, day + week seasons,
AutoETS trend) on the shipped rolling-origin protocol, so its scores can be measured on any series
`foresight backtest` runs on. Usage:

    python hack/python-reference.py FILE.csv STEP_MINUTES [--start TS] [--sweep-weeks N] [--paired F.json ...]

Without --sweep-weeks it runs one window of 20 origins from --start (default: the first row);
with it, one window every N weeks across the whole file, like `foresight backtest --sweep`.
With --paired F.json ... (the output of `foresight backtest --format json` on the same file, one per
window), it also compares `auto` with MSTL origin by origin: the mean of each origin's difference,
with the 90 % margin of that mean (1.645 × sd / sqrt(n)), so both forecasters are judged on the
same days.
Needs `pip install statsforecast pandas` (measured with statsforecast 2.1.1 and pandas 2.3.3); not
part of any test run.
"""
import argparse, csv, time
from collections import Counter
from datetime import datetime, timedelta
import numpy as np, pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import MSTL

a = argparse.ArgumentParser()
a.add_argument("file"); a.add_argument("step", type=int)
a.add_argument("--start"); a.add_argument("--sweep-weeks", type=int)
a.add_argument("--paired", nargs="+", default=[])
args = a.parse_args()
rows = list(csv.reader(open(args.file)))[1:]
times = [datetime.fromisoformat(r[0]) for r in rows]
values = np.array([float(r[1]) for r in rows])
index = {t: i for i, t in enumerate(times)}
# A day and a week in observations, read from the file: the usual number of rows per date and of
# dates per ISO week (48 and 336 for a half-hourly series; 169 and 845 for bank_calls, whose rows
# are its open hours of its working days, as `foresight` reads it).
common = lambda counts: Counter(counts.values()).most_common(1)[0][0]
dates = Counter(t.date() for t in times)
day = common(dates)
week = day * common(Counter(d.isocalendar()[:2] for d in dates))
train, origins = 8 * week, 20

def window(start):
    i0 = index[start]
    scores = []
    for k in range(origins):
        o = i0 + train + k * day
        if o + day > len(values): return None
        y = values[o - train:o]
        df = pd.DataFrame({"unique_id": "s", "ds": pd.date_range("2000-01-01", periods=train, freq=f"{args.step}min"), "y": y})
        t0 = time.perf_counter()
        f = StatsForecast(models=[MSTL(season_length=[day, week])], freq=f"{args.step}min").forecast(df=df, h=day, level=[90])
        elapsed = time.perf_counter() - t0
        mean, lo, hi = f["MSTL"].to_numpy(), f["MSTL-lo-90"].to_numpy(), f["MSTL-hi-90"].to_numpy()
        actual = values[o:o + day]
        scale = np.mean(np.abs(y[day:] - y[:-day]))
        pin = lambda q, b: np.mean(np.maximum(q * (actual - b), (q - 1) * (actual - b)))
        scores.append((np.mean(np.abs(actual - mean)) / scale, np.mean((actual >= lo) & (actual <= hi)) * 100,
                       (pin(0.05, lo) + pin(0.95, hi)) / 2 / scale, elapsed))
        per_origin[str(times[o])] = scores[-1]
    return np.mean(np.array(scores), axis=0)

per_origin = {}
def paired():
    """auto − MSTL per origin, over every origin both were scored on."""
    import json
    auto = {}
    for f in args.paired:
        for model in json.load(open(f)):
            if model["model"] == "auto":
                auto.update({o["origin"]: (o["MASE_d"], o["scaled_pinball"]) for o in model["origins"]})
    both = sorted(set(auto) & set(per_origin))
    if len(both) < 2:
        print(f"paired: {len(both)} origins in common; nothing to compare"); return
    for name, a_i, m_i in (("MASE_d", 0, 0), ("pinball", 1, 2)):
        d = np.array([auto[t][a_i] - per_origin[t][m_i] for t in both])
        margin = 1.645 * d.std(ddof=1) / np.sqrt(len(d))
        print(f"paired over {len(d)} origins, auto - MSTL {name}: {d.mean():+.4f} ± {margin:.4f} (90 %); "
              f"auto better at {(d < 0).sum()} of {len(d)} origins")

start = datetime.fromisoformat(args.start) if args.start else times[0]
if not args.sweep_weeks:
    m, c, p, s = window(start)
    print(f"MSTL+AutoETS  MASE_d {m:.3f}  Cov90 {c:.1f} %  pinball {p:.4f}  {s:.2f} s/origin")
else:
    out = []
    while start in index:
        w = window(start)
        if w is None: break
        out.append(w); print(f"{start}  MASE_d {w[0]:.3f}  Cov90 {w[1]:.1f}  pinball {w[2]:.4f}", flush=True)
        start += timedelta(weeks=args.sweep_weeks)
    o = np.array(out)
    print(f"{len(o)} windows: MASE_d median {np.median(o[:, 0]):.3f}, worst {o[:, 0].max():.3f}; "
          f"90% coverage median {np.median(o[:, 1]):.1f} %, lowest {o[:, 1].min():.1f} %; pinball median {np.median(o[:, 2]):.4f}")
if args.paired: paired()
