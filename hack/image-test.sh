#!/usr/bin/env bash
# The images, built and run here: the in-cluster path proven on the real control plane.
#
#   hack/image-test.sh            build both images with podman, then run them as a kubelet would
#
# No image registry is reachable, so the bases are made on this machine and passed to the
# Dockerfile as build arguments (whose defaults stay the official images):
#   - the runtime base: `debootstrap --variant=minbase bookworm`, imported;
#   - the build base: that, with the packages Swift needs and this machine's toolchain (/opt/swift).
# Both are cached in podman's storage (and the debootstrap tree under ~/.cache/foresight/image), so
# a second run only rebuilds the images. Swift packages resolve from this machine's mirror
# (/opt/swift-packages through /etc/gitconfig), mounted read-only into the build.
#
# Then, against a control plane of its own (hack/control-plane.sh):
#   1. `kubectl apply -k manifests/` and `-k manifests/node-agent` create everything, and the
#      Deployment's security context, probes and resources are those the run below proves;
#   2. the controller image runs with the service account's token, CA and namespace mounted
#      read-only, a read-only root filesystem, no privilege escalation and every capability dropped:
#      it leads, answers /readyz, reconciles the example ZonePlan with exactly the shipped RBAC; a
#      second container takes over when the first is stopped, and reconciles a change;
#   3. the node-agent image, run the same way for one simulated node, carries out the update
#      handshake of an UpdateWindow with a faked host command.
# Sizes and timings are printed at the end (recorded in benchmarks/image.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE="${FORESIGHT_CACHE:-$HOME/.cache/foresight}/image"
RUNTIME_BASE=localhost/foresight-base/debian:bookworm-minbase-slim
BUILD_BASE=localhost/foresight-base/swift:6.3.1-bookworm
CONTROLLER_IMAGE=localhost/foresight:test
AGENT_IMAGE=localhost/foresight-node-agent:test
log() { printf '[image-test] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
declare -a TIMINGS=()
timed() {  # name command...
  local t0 t1
  t0=$(date +%s.%N)
  "${@:2}"
  t1=$(date +%s.%N)
  TIMINGS+=("$1: $(python3 -c "print(round($t1-$t0,1))") s")
  log "$1 took ${TIMINGS[-1]#*: }"
}

# --- the machine: podman with runc and cgroupfs (crun refuses this machine's hybrid cgroups) ---
apt_missing=()
for p in podman runc debootstrap uidmap; do dpkg -s "$p" >/dev/null 2>&1 || apt_missing+=("$p"); done
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing ${apt_missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
mkdir -p "$CACHE"
cat > "$CACHE/containers.conf" <<'CONF'
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
CONF
export CONTAINERS_CONF="$CACHE/containers.conf"
# Explicit limits below the machine's hard limits (podman's defaults ask for more than it allows).
nofile=$(( $(ulimit -Hn) / 2 < 65536 ? $(ulimit -Hn) / 2 : 65536 ))
nproc=$(( $(ulimit -Hu) / 2 < 8192 ? $(ulimit -Hu) / 2 : 8192 ))
LIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

# --- the bases ---
make_runtime_base() {
  if [ ! -x "$CACHE/rootfs-runtime/bin/sh" ]; then
    rm -rf "$CACHE/rootfs-runtime"
    debootstrap --variant=minbase bookworm "$CACHE/rootfs-runtime" http://deb.debian.org/debian > "$CACHE/debootstrap.log" 2>&1 \
      || fail "debootstrap (log: $CACHE/debootstrap.log)"
  fi
  # As Debian's -slim images: no package archives or lists, documentation, manuals or translations.
  tar -C "$CACHE/rootfs-runtime" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/cache/apt/*.bin' \
    --exclude='./var/lib/apt/lists/*_*' --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' \
    --exclude='./usr/share/locale/*' --exclude='./usr/share/info/*' -c . | podman import - "$RUNTIME_BASE" > /dev/null
}
make_build_base() {
  podman build --network host --volume /opt/swift:/mnt/swift:ro --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" \
    -t "$BUILD_BASE" -f hack/image/build-base.Containerfile hack/image > "$CACHE/build-base.log" 2>&1 \
    || fail "build base (log: $CACHE/build-base.log)"
}
podman image exists "$RUNTIME_BASE" || timed "runtime base (debootstrap + import)" make_runtime_base
podman image exists "$BUILD_BASE" || timed "build base (packages + toolchain copy)" make_build_base

# --- the images ---
build_image() {  # tag target
  podman build --network host --volume /opt/swift-packages:/opt/swift-packages:ro --volume /etc/gitconfig:/etc/gitconfig:ro \
    --build-arg "BUILD_IMAGE=$BUILD_BASE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" --target "$2" -t "$1" . > "$CACHE/build-$2.log" 2>&1 \
    || { tail -30 "$CACHE/build-$2.log" >&2; fail "podman build --target $2 (log: $CACHE/build-$2.log)"; }
}
timed "controller image (podman build)" build_image "$CONTROLLER_IMAGE" controller
timed "node-agent image (podman build, build stage cached)" build_image "$AGENT_IMAGE" node-agent
size() { podman image inspect --format '{{.Size}}' "$1" | python3 -c 'import sys; print(f"{int(sys.stdin.read())/1048576:.1f} MiB")'; }
CONTROLLER_SIZE=$(size "$CONTROLLER_IMAGE"); AGENT_SIZE=$(size "$AGENT_IMAGE")
log "controller image $CONTROLLER_SIZE, node-agent image $AGENT_SIZE"

# What is in the controller image: the binary, libraries, zone data, passwd; no shell.
image_user=$(podman image inspect --format '{{.Config.User}}' "$CONTROLLER_IMAGE")
[ "$image_user" = "65532:65532" ] || fail "the controller image runs as '$image_user', not 65532:65532"
listing=$(podman create "$CONTROLLER_IMAGE" > "$CACHE/cid" && podman export "$(cat "$CACHE/cid")" | tar -t; podman rm "$(cat "$CACHE/cid")" > /dev/null)
for shell in bin/sh bin/bash usr/bin/sh usr/bin/dash bin/busybox; do
  ! grep -qx "$shell" <<< "$listing" || fail "the controller image has a shell: /$shell"
done
grep -qx "usr/local/bin/foresight" <<< "$listing" || fail "the controller image has no /usr/local/bin/foresight"
FILES=$(grep -vc '/$' <<< "$listing" || true)
LIBS=$(grep -E '\.so(\.|$)' <<< "$listing" | grep -vc zoneinfo || true)
log "controller image: $FILES files, $LIBS shared libraries, no shell, user $image_user"

# --- a control plane, and the manifests ---
for b in foresight-node-simulator; do swift build --product "$b" > /dev/null; done
hack/control-plane.sh build
dir=$(mktemp -d "${TMPDIR:-/tmp}/foresight-image.XXXXXX")
CONTAINERS=()
cleanup() {
  local rc=$?
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 2 "$c" > /dev/null 2>&1 || true; done
  [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true
  hack/control-plane.sh down "$dir" || true
  if [ $rc -ne 0 ]; then log "logs are in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
timed "control plane up" hack/control-plane.sh up "$dir"
export KUBECONFIG="$dir/admin.kubeconfig"
server=$(cat "$dir/server"); api_host=${server#https://}; api_port=${api_host##*:}; api_host=${api_host%:*}
kubectl apply -k manifests/ > "$dir/apply.log"
kubectl apply -k manifests/node-agent >> "$dir/apply.log"
for o in crd/zoneplans.foresight.dev crd/updatewindows.foresight.dev namespace/foresight-system clusterrole/foresight-controller \
         clusterrolebinding/foresight-controller clusterrole/foresight-node-agent clusterrolebinding/foresight-node-agent; do
  kubectl get "$o" > /dev/null || fail "kubectl apply -k did not create $o"
done
for o in serviceaccount/foresight serviceaccount/foresight-node-agent deployment/foresight-controller service/foresight-metrics role/foresight-leader-election \
         daemonset/foresight-node-agent; do
  kubectl -n foresight-system get "$o" > /dev/null || fail "kubectl apply -k did not create $o"
done
# No kubelet runs real containers here: the containers below stand in for the Deployment's pods.
kubectl -n foresight-system scale deploy/foresight-controller --replicas=0 > /dev/null
kubectl -n foresight-system patch ds/foresight-node-agent --type merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"foresight.dev/no-node":"x"}}}}}' > /dev/null
# The Deployment asks for what the run below gives: the image's user, a read-only root, no
# escalation, no capabilities, probes on the metrics port.
dep() { kubectl -n foresight-system get deploy/foresight-controller -o jsonpath="$1"; }
[ "$(dep '{.spec.template.spec.securityContext.runAsUser}'):$(dep '{.spec.template.spec.securityContext.runAsGroup}')" = "$image_user" ] \
  || fail "the Deployment's runAsUser/runAsGroup differ from the image's user $image_user"
[ "$(dep '{.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}')" = "true" ] || fail "readOnlyRootFilesystem"
[ "$(dep '{.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation}')" = "false" ] || fail "allowPrivilegeEscalation"
[ "$(dep '{.spec.template.spec.containers[0].securityContext.capabilities.drop[0]}')" = "ALL" ] || fail "capabilities.drop"
[ "$(dep '{.spec.template.spec.containers[0].readinessProbe.httpGet.path}')" = "/readyz" ] || fail "readinessProbe"
[ "$(dep '{.spec.template.spec.containers[0].livenessProbe.httpGet.path}')" = "/healthz" ] || fail "livenessProbe"
# The containers run under the manifests' memory limits (Mi → podman's m).
memory_limit=$(dep '{.spec.template.spec.containers[0].resources.limits.memory}')
agent_memory_limit=$(kubectl -n foresight-system get ds/foresight-node-agent -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}')
[[ "$memory_limit" =~ ^[0-9]+Mi$ && "$agent_memory_limit" =~ ^[0-9]+Mi$ ]] || fail "memory limits not in Mi: $memory_limit, $agent_memory_limit"

# --- the service accounts' credentials, laid out as a kubelet mounts them ---
serviceaccount_dir() {  # name kubeconfig
  local d="$dir/sa-$1"
  mkdir -p "$d"
  grep -m1 'token:' "$2" | awk '{print $2}' > "$d/token"
  cp "$dir/pki/ca.crt" "$d/ca.crt"
  echo foresight-system > "$d/namespace"
  chmod 0444 "$d"/*
  echo "$d"
}
CONTROLLER_SA=$(serviceaccount_dir controller "$dir/controller.kubeconfig")
AGENT_SA=$(serviceaccount_dir agent "$dir/agent.kubeconfig")

# As the kubelet runs the Deployment's pod (securityContext from the manifest, host network so the
# apiserver on loopback is reachable; each container its own metrics port).
run_controller() {  # name port
  CONTAINERS+=("$1")
  podman run -d --name "$1" --network host "${LIMITS[@]}" \
    --read-only --security-opt no-new-privileges --cap-drop all --user "$image_user" --memory "${memory_limit%Mi}m" \
    -v "$CONTROLLER_SA:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
    -e KUBERNETES_SERVICE_HOST="$api_host" -e KUBERNETES_SERVICE_PORT="$api_port" \
    -e POD_NAME="$1" -e POD_NAMESPACE=foresight-system \
    "$CONTROLLER_IMAGE" run --leader-elect --metrics-address="127.0.0.1:$2" > /dev/null
}
wait_until() {  # seconds description command...
  local deadline=$(( $(date +%s) + $1 ))
  until "${@:3}" > /dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$2 (not within $1 s)"
    sleep 0.5
  done
}
holder() { kubectl -n foresight-system get lease foresight-controller -o jsonpath='{.spec.holderIdentity}'; }
port_a=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port_b=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

t0=$(date +%s.%N)
run_controller foresight-a "$port_a"
wait_until 60 "container a answers /readyz" curl -fs "http://127.0.0.1:$port_a/readyz"
wait_until 60 "container a leads" sh -c "[ \"\$(kubectl -n foresight-system get lease foresight-controller -o jsonpath='{.spec.holderIdentity}')\" = foresight-a ]"
TIMINGS+=("controller container start to leading and ready: $(python3 -c "import time; print(round(time.time()-$t0,1))") s")
curl -fs "http://127.0.0.1:$port_a/healthz" > /dev/null || fail "/healthz"
curl -fs "http://127.0.0.1:$port_a/metrics" | grep -q '^foresight_' || fail "/metrics has no foresight_ series"

# The example ZonePlan, reconciled with the shipped RBAC only: its status follows its spec.
kubectl apply -f examples/zoneplan-shop.yaml > /dev/null
observed() { [ "$(kubectl get zoneplan shop -o jsonpath='{.status.observedGeneration}')" = "$(kubectl get zoneplan shop -o jsonpath='{.metadata.generation}')" ]; }
wait_until 60 "the ZonePlan's status follows its spec (container a)" observed
kubectl get zoneplan shop -o jsonpath='{.status.conditions}' | grep -q '"type"' || fail "the ZonePlan status has no conditions"
if podman logs foresight-a 2>&1 | grep -qiE 'forbidden|cannot (list|watch|get|patch)'; then
  podman logs foresight-a 2>&1 | grep -iE 'forbidden|cannot (list|watch|get|patch)' | head -5 >&2
  fail "the controller was refused by its RBAC"
fi

# A second container waits, then takes over when the first is stopped, and reconciles a change.
run_controller foresight-b "$port_b"
sleep 3
[ "$(holder)" = foresight-a ] || fail "the second container took the lease while the first led"
t0=$(date +%s.%N)
podman stop -t 30 foresight-a > /dev/null
wait_until 60 "container b leads after a stopped" sh -c "[ \"\$(kubectl -n foresight-system get lease foresight-controller -o jsonpath='{.spec.holderIdentity}')\" = foresight-b ]"
TIMINGS+=("failover (stop of a to b leading): $(python3 -c "import time; print(round(time.time()-$t0,1))") s")
wait_until 60 "container b answers /readyz" curl -fs "http://127.0.0.1:$port_b/readyz"
kubectl patch zoneplan shop --type merge -p '{"spec":{"forecast":{"quantile":0.8}}}' > /dev/null
wait_until 60 "the ZonePlan's change is reconciled by container b" observed
[ "$(podman inspect --format '{{.State.ExitCode}}' foresight-a)" = 0 ] || fail "container a did not exit 0 on SIGTERM"
CONTROLLER_MEMORY=$(podman stats --no-stream --format '{{.MemUsage}}' foresight-b)
TIMINGS+=("memory of the leading controller container (podman stats, limit ${memory_limit}): $CONTROLLER_MEMORY")

# --- the node agent, for one simulated node whose "reboot" is the faked host command ---
node=image-agent-0
boot="$dir/agent-host/boot_id"
mkdir -p "$dir/agent-host" "$dir/agent-state"
cat /proc/sys/kernel/random/uuid > "$boot"
chmod 0666 "$boot"
"$(swift build --show-bin-path)/foresight-node-simulator" --kubeconfig "$KUBECONFIG" --nodes "image-agent-:1:pool=agent" --cpu 16 \
  --external-agent "$node=$boot" > "$dir/simulator.log" 2>&1 &
SIM_PID=$!
wait_until 60 "the simulated node is Ready" sh -c "kubectl get node $node -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
before=$(kubectl get node "$node" -o jsonpath='{.status.nodeInfo.bootID}')
CONTAINERS+=(foresight-agent)
# As the DaemonSet runs it (read-only root, its memory limit), less the privileges the faked
# command does not need.
podman run -d --name foresight-agent --network host "${LIMITS[@]}" --read-only --memory "${agent_memory_limit%Mi}m" \
  -v "$AGENT_SA:/var/run/secrets/kubernetes.io/serviceaccount:ro" -v "$dir/agent-host:/host" -v "$dir/agent-state:/var/lib/foresight-agent" \
  -e KUBERNETES_SERVICE_HOST="$api_host" -e KUBERNETES_SERVICE_PORT="$api_port" -e NODE_NAME="$node" \
  "$AGENT_IMAGE" node-agent --state-dir=/var/lib/foresight-agent --boot-id-file=/host/boot_id \
  --precheck 'command -v nsenter >/dev/null' \
  --command 'echo upgrading; sleep 1; cat /proc/sys/kernel/random/uuid > /host/boot_id' > /dev/null
t0=$(date +%s.%N)
kubectl apply -f - > /dev/null <<UW
apiVersion: foresight.dev/v1alpha1
kind: UpdateWindow
metadata: {name: image-agent}
spec:
  nodeSelector: {matchLabels: {pool: agent}}
  schedule: {start: "$(date -u +%Y-%m-%dT%H:%M:%SZ)", duration: 1h}
  preScale: false
  update: {nodeTimeout: 3m}
  verify: {settle: 1s}
UW
done_or_failed() { kubectl get updatewindow image-agent -o jsonpath='{.status.phase}' | grep -qE '^(Completed|Failed)$'; }
wait_until 240 "the UpdateWindow ends" done_or_failed
phase=$(kubectl get updatewindow image-agent -o jsonpath='{.status.phase}')
[ "$phase" = Completed ] || { kubectl get updatewindow image-agent -o yaml >&2; podman logs foresight-agent >&2; fail "the UpdateWindow ended $phase"; }
TIMINGS+=("UpdateWindow of one node through the agent container: $(python3 -c "import time; print(round(time.time()-$t0,1))") s")
after=$(kubectl get node "$node" -o jsonpath='{.status.nodeInfo.bootID}')
[ "$after" != "$before" ] && [ "$after" = "$(cat "$boot")" ] || fail "the node's boot ID did not change to the agent's ($before → $after)"
[ "$(kubectl get node "$node" -o jsonpath='{.metadata.annotations.foresight\.dev/update}')" = done ] || fail "the agent did not say done"
[ -z "$(kubectl get node "$node" -o jsonpath='{.spec.unschedulable}')" ] || fail "the node was left cordoned"
podman logs foresight-agent 2>&1 | grep -q "$node: done" || fail "the agent's log does not say done"

log "PASSED"
printf 'controller image: %s (%s files, %s shared libraries, user %s, no shell)\n' "$CONTROLLER_SIZE" "$FILES" "$LIBS" "$image_user"
printf 'node-agent image: %s\n' "$AGENT_SIZE"
for t in "${TIMINGS[@]}"; do printf '%s\n' "$t"; done
printf 'machine: %s cores, %s\n' "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
