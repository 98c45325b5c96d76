#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, built from Debian's source package.
#
#   hack/control-plane.sh build          install packages, build the binaries once into the cache
#   hack/control-plane.sh up DIR         start etcd, kube-apiserver, controller-manager, scheduler;
#                                        write DIR/admin.kubeconfig, DIR/controller.kubeconfig and DIR/agent.kubeconfig
#   hack/control-plane.sh down DIR       stop everything started by `up DIR`
#   hack/control-plane.sh restart-apiserver DIR   stop and start the apiserver on the same port
#
# The binaries are cached under ${FORESIGHT_CACHE:-~/.cache/foresight}/kubernetes-VERSION so a second
# run on the same machine starts in seconds. Ports are chosen free at `up` time.
set -euo pipefail

CACHE="${FORESIGHT_CACHE:-$HOME/.cache/foresight}"
K8S_DEBIAN_VERSION="1.20.5+really1.20.2"
BIN="$CACHE/kubernetes-$K8S_DEBIAN_VERSION/bin"

log() { printf '[control-plane] %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  apt_install etcd-server openssl curl ca-certificates
  if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kube-scheduler" ]; then
    log "binaries cached in $BIN"
    return 0
  fi
  apt_install golang-go rsync golang-github-modern-go-reflect2-dev dpkg-dev make
  local src="$CACHE/kubernetes-src"
  mkdir -p "$src"
  if [ ! -f /etc/apt/sources.list.d/foresight-src.sources ]; then
    cat > /etc/apt/sources.list.d/foresight-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq >/dev/null
  fi
  local tree
  tree=$(find "$src" -maxdepth 1 -type d -name 'kubernetes-1.20*' | head -n1)
  if [ -z "$tree" ]; then
    log "fetching Debian source package kubernetes"
    (cd "$src" && apt-get source -qq --download-only kubernetes >/dev/null)
    (cd "$src" && dpkg-source -x --no-check ./kubernetes_*.dsc >/dev/null)
    tree=$(find "$src" -maxdepth 1 -type d -name 'kubernetes-1.20*' | head -n1)
  fi
  [ -n "$tree" ] || { log "could not unpack the kubernetes source package"; exit 1; }
  # reflect2 1.0.1 crashes under Go >= 1.18; use Debian's 1.0.2.
  local r2=/usr/share/gocode/src/github.com/modern-go/reflect2
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  mkdir -p "$tree/vendor/github.com/modern-go/reflect2"
  cp "$r2"/*.go "$tree/vendor/github.com/modern-go/reflect2/"
  cp "$r2"/*.s "$tree/vendor/github.com/modern-go/reflect2/" 2>/dev/null || true
  rm -f "$tree"/vendor/github.com/modern-go/reflect2/*_test.go
  mkdir -p "$tree/.go/src/k8s.io"
  ln -sfn "$tree" "$tree/.go/src/k8s.io/kubernetes"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler (about 10 minutes the first time)"
  local home="$CACHE/gohome"; mkdir -p "$home"
  (cd "$tree/.go/src/k8s.io/kubernetes" && \
    HOME="$home" GOPATH="$tree/.go" CGO_ENABLED=0 GO111MODULE=off GOFLAGS=-mod=vendor \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" > "$CACHE/kubernetes-build.log" 2>&1) || {
      log "build failed; end of $CACHE/kubernetes-build.log:"; tail -n 40 "$CACHE/kubernetes-build.log" >&2; exit 1; }
  mkdir -p "$BIN"
  cp "$tree"/_output/local/bin/linux/amd64/kube-{apiserver,controller-manager,scheduler} "$BIN/"
  log "binaries in $BIN"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

fail_component() {
  local name=$1 dir=$2
  log "$name failed to start; end of $dir/$name.log:"
  tail -n 30 "$dir/$name.log" >&2 || true
  down "$dir"
  exit 1
}

wait_for() {  # name dir seconds command...
  local name=$1 dir=$2 secs=$3; shift 3
  local pidfile="$dir/$name.pid"
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then fail_component "$name" "$dir"; fi
    sleep 0.2
  done
  log "$name not ready after ${secs}s"
  fail_component "$name" "$dir"
}

start() {  # name dir command...
  local name=$1 dir=$2; shift 2
  setsid "$@" > "$dir/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/$name.pid"
}

write_kubeconfig() {  # file server ca token user
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: foresight-test
  cluster:
    server: $2
    certificate-authority: $3
users:
- name: $5
  user:
    token: $4
contexts:
- name: foresight-test
  context: {cluster: foresight-test, user: $5}
current-context: foresight-test
KC
}

up() {
  local dir=${1:?usage: up DIR}
  build
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  if [ -f "$dir/apiserver.pid" ] && kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null; then
    log "already up in $dir"; return 0
  fi
  local t0; t0=$(date +%s.%N)
  rm -rf "$dir/etcd"
  mkdir -p "$dir/pki"
  local pki="$dir/pki"
  if [ ! -f "$pki/server.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3650 -subj "/CN=foresight-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:10.0.0.1\n' > "$pki/san.ext"
    openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -out "$pki/server.crt" -days 3650 -extfile "$pki/san.ext" 2>/dev/null
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
  local admin_token controller_token agent_token
  admin_token=$(openssl rand -hex 16); controller_token=$(openssl rand -hex 16); agent_token=$(openssl rand -hex 16)
  cat > "$dir/tokens.csv" <<TOK
$admin_token,foresight-admin,admin-uid,"system:masters"
$controller_token,system:serviceaccount:foresight-system:foresight,controller-uid,"system:serviceaccounts,system:serviceaccounts:foresight-system,system:authenticated"
$agent_token,system:serviceaccount:foresight-system:foresight-node-agent,agent-uid,"system:serviceaccounts,system:serviceaccounts:foresight-system,system:authenticated"
TOK
  local etcd_port etcd_peer api_port
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)
  local server="https://127.0.0.1:$api_port"
  echo "$server" > "$dir/server"

  start etcd "$dir" etcd --name foresight --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "foresight=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --quota-backend-bytes=8589934592
  wait_for etcd "$dir" 30 curl -fs "http://127.0.0.1:$etcd_port/health"

  local apiserver_args=("$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --insecure-port 0 \
    --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
    --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true --endpoint-reconciler-type none \
    --max-requests-inflight 2000 --max-mutating-requests-inflight 1000 --event-ttl 1h)
  printf '%q ' "${apiserver_args[@]}" > "$dir/apiserver.cmd"
  echo "$admin_token" > "$dir/admin.token"
  start apiserver "$dir" "${apiserver_args[@]}"
  wait_for apiserver "$dir" 90 curl -fsk -H "Authorization: Bearer $admin_token" "$server/readyz"

  write_kubeconfig "$dir/admin.kubeconfig" "$server" "$pki/ca.crt" "$admin_token" foresight-admin
  write_kubeconfig "$dir/controller.kubeconfig" "$server" "$pki/ca.crt" "$controller_token" foresight-controller
  write_kubeconfig "$dir/agent.kubeconfig" "$server" "$pki/ca.crt" "$agent_token" foresight-node-agent

  start controller-manager "$dir" "$BIN/kube-controller-manager" --kubeconfig "$dir/admin.kubeconfig" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --leader-elect=false --port 0 --secure-port 0 --use-service-account-credentials=false \
    --controllers '*,-nodeipam,-cloud-node-lifecycle,-service,-route' --kube-api-qps 500 --kube-api-burst 1000 \
    --concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10
  start scheduler "$dir" "$BIN/kube-scheduler" --kubeconfig "$dir/admin.kubeconfig" \
    --leader-elect=false --port 0 --secure-port 0 --kube-api-qps 500 --kube-api-burst 1000
  # The controller-manager's token controller must give the default service account a token
  # before any pod can be admitted.
  wait_for controller-manager "$dir" 60 sh -c "KUBECONFIG='$dir/admin.kubeconfig' kubectl get serviceaccount default -n default -o jsonpath='{.secrets[0].name}' | grep -q ."
  local t1; t1=$(date +%s.%N)
  log "up in $dir at $server ($(python3 -c "print(round($t1-$t0,1))") s); KUBECONFIG=$dir/admin.kubeconfig"
}

# Stops the apiserver and starts it again on the same port (for tests of watch recovery).
restart_apiserver() {
  local dir=${1:?usage: restart-apiserver DIR}
  dir=$(cd "$dir" && pwd)
  local pid; pid=$(cat "$dir/apiserver.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  eval "start apiserver \"\$dir\" $(cat "$dir/apiserver.cmd")"
  wait_for apiserver "$dir" 90 curl -fsk -H "Authorization: Bearer $(cat "$dir/admin.token")" "$(cat "$dir/server")/readyz"
  log "apiserver restarted"
}

down() {
  local dir=${1:?usage: down DIR}
  [ -d "$dir" ] || return 0
  local name pid
  for name in scheduler controller-manager apiserver etcd; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
  done
  log "down in $dir"
}

case "${1:-}" in
  build) build ;;
  up) up "${2:-}" ;;
  down) down "${2:-}" ;;
  restart-apiserver) restart_apiserver "${2:-}" ;;
  *) echo "usage: $0 build | up DIR | down DIR | restart-apiserver DIR" >&2; exit 2 ;;
esac
