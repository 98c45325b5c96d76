#!/usr/bin/env bash
# How often idle resources are reconciled while nodes post their status: one ZonePlan (DryRun,
# one zone, 10 days of history) and one UpdateWindow (its window months away) over NODES
# simulated nodes, each posting status every 30 s. Nothing changes that either resource reads,
# so only the ZonePlan's resync (every 30 s) should reconcile it, and nothing the UpdateWindow.
# Prints reconciles per minute of each controller, counted from the controller's own metrics.
#
#   hack/wakeup-bench.sh KUBECONFIG [FORESIGHT] [NODES] [SECONDS]
#
# KUBECONFIG: an admin kubeconfig of a control plane with `kubectl apply -k manifests/` applied
# (hack/control-plane.sh up DIR makes one). FORESIGHT: the controller binary (default
# .build/release/foresight); the node simulator is foresight-node-simulator beside it.
# LOG_LEVEL=trace KEEP_LOG=FILE keeps the controller's log, which names each change that queued a
# reconcile.
set -euo pipefail
kubeconfig=${1:?usage: hack/wakeup-bench.sh KUBECONFIG [FORESIGHT] [NODES] [SECONDS]}
foresight=${2:-.build/release/foresight}
nodes=${3:-200}
seconds=${4:-120}
simulator="$(dirname "$foresight")/foresight-node-simulator"
[ -x "$simulator" ] || simulator=.build/release/foresight-node-simulator
export KUBECONFIG=$kubeconfig
run="wb-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    kubectl delete zoneplan "$run" --wait=false >/dev/null 2>&1 || true
    kubectl delete updatewindow "$run" --wait=false >/dev/null 2>&1 || true
    kubectl delete namespace "$run" --wait=false >/dev/null 2>&1 || true
    kubectl delete nodes -l "bench-run=$run" --wait=false >/dev/null 2>&1 || true
    if [ -n "${KEEP_LOG:-}" ]; then cp "$work/controller.log" "$KEEP_LOG"; fi
    rm -rf "$work"
}
trap cleanup EXIT

python3 - "$work/history.csv" <<'EOF'
import math, sys, time
end = int(time.time()) // 300 * 300
with open(sys.argv[1], "w") as f:
    f.write("timestamp,value\n")
    for t in range(end - 10 * 86400, end + 1, 300):
        f.write(f"{t},{500 + 200 * math.sin((t % 86400) / 86400 * 2 * math.pi):.1f}\n")
EOF
kubectl create namespace "$run" >/dev/null
kubectl label namespace "$run" team="$run" >/dev/null
kubectl -n "$run" create configmap load-history --from-file=web="$work/history.csv" >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $run, labels: {tier: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {bench-run: $run}
      containers: [{name: c, image: nginx, resources: {requests: {cpu: 100m, memory: 64Mi}}}]
---
apiVersion: foresight.dev/v1alpha1
kind: ZonePlan
metadata: {name: $run}
spec:
  mode: DryRun
  forecast:
    source: {configMap: {namespace: $run, name: load-history}}
    history: 10d
    horizon: 2h
    step: 5m
    seasonalities: [1d]
  zones:
  - name: web
    priority: 1
    workloads: {namespaceSelector: {matchLabels: {team: $run}}, selector: {matchLabels: {tier: web}}}
    load: {perReplica: 100}
---
apiVersion: foresight.dev/v1alpha1
kind: UpdateWindow
metadata: {name: $run}
spec:
  nodeSelector: {matchLabels: {bench-run: $run}}
  schedule: {start: "2099-01-01T00:00:00Z", duration: 1h}
  maxUnavailable: 1
  update:
    target: {osImage: "Debian GNU/Linux 13 (trixie)"}
EOF

"$simulator" --kubeconfig "$kubeconfig" --nodes "$run-:$nodes:bench-run=$run" > "$work/simulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
    ready=$(kubectl get nodes -l "bench-run=$run" --no-headers 2>/dev/null | grep -c " Ready " || true)
    [ "$ready" -ge "$nodes" ] && break
    sleep 1
done
"$foresight" run --kubeconfig "$kubeconfig" --metrics-address 127.0.0.1:0 --log-level "${LOG_LEVEL:-info}" > "$work/controller.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 60); do
    port=$(grep -o "serving /metrics.* on 127.0.0.1:[0-9]*" "$work/controller.log" 2>/dev/null | grep -o "[0-9]*$" || true)
    [ -n "$port" ] && break
    sleep 1
done
[ -n "$port" ] || { echo "the controller did not start:"; cat "$work/controller.log"; exit 1; }
reconciles() {  # total reconciles of controller $1 so far
    curl -s "http://127.0.0.1:$port/metrics" | awk -v c="controller=\"$1\"" '$1 ~ /^foresight_reconcile_total/ && index($1, c) { s += $2 } END { print s + 0 }'
}
sleep 20   # the first pass (every object queued once, the forecast fitted) is not counted
zp0=$(reconciles zoneplan); uw0=$(reconciles updatewindow)
sleep "$seconds"
zp1=$(reconciles zoneplan); uw1=$(reconciles updatewindow)
echo "binary: $foresight"
echo "$nodes simulated nodes posting status every 30 s; one idle ZonePlan and one idle UpdateWindow; $seconds s counted"
awk -v a="$zp0" -v b="$zp1" -v s="$seconds" 'BEGIN { printf "ZonePlan reconciles per minute: %.1f\n", (b - a) * 60 / s }'
awk -v a="$uw0" -v b="$uw1" -v s="$seconds" 'BEGIN { printf "UpdateWindow reconciles per minute: %.1f\n", (b - a) * 60 / s }'
