#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, built from Debian's source package.
#
#   hack/control-plane.sh build          install packages, build the binaries once into the cache
#   hack/control-plane.sh up DIR         start etcd, kube-apiserver, controller-manager, scheduler;
#                                        write DIR/admin.kubeconfig and DIR/controller.kubeconfig
#   hack/control-plane.sh down DIR       stop everything started by `up DIR`
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

case "${1:-}" in
  build) build ;;
  *) echo "usage: $0 build | up DIR | down DIR" >&2; exit 2 ;;
esac
