#!/usr/bin/env bash
# Times `foresight forecast` at horizons of weeks to months on dense (5-minute) synthetic
# histories: a daily sine with noise, 13 weeks and 52 weeks long. Prints wall time and peak
# memory of each run. Usage: hack/long-horizon-bench.sh [path to a release foresight binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release/foresight}
[ -x "$bin" ] || { echo "no foresight binary at $bin: swift build -c release --product foresight" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/foresight-long.XXXXXX")
trap 'rm -rf "$dir"' EXIT
# days, file: 5-minute rows from 2025-01-01, value 100 + 30 sin(day phase) + uniform noise 0–5 (fixed seed)
make_history() {
  awk -v days="$1" 'BEGIN {
    srand(1); print "timestamp,value"
    for (i = 0; i < days * 288; i++) {
      t = 1735689600 + 300 * i
      printf "%s,%.2f\n", strftime("%Y-%m-%d %H:%M:%S", t, 1), 100 + 30 * sin(2 * 3.141592653589793 * (i % 288) / 288) + 5 * rand()
    }
  }' > "$2"
}
make_history 91 "$dir/13w.csv"
make_history 365 "$dir/52w.csv"
for run in "13w.csv 1d" "13w.csv 7w" "52w.csv 1d" "52w.csv 26w"; do
  set -- $run
  /usr/bin/time -f "history $1, horizon $2: %e s wall, %M KB peak" "$bin" forecast --input "$dir/$1" --horizon "$2" --format csv 2>&1 >/dev/null | grep '^history'
done
