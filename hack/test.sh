#!/usr/bin/env bash
# The whole test suite: unit tests, then the same tests binary against a real Kubernetes control
# plane (kube-apiserver, etcd, controller-manager, scheduler built from Debian's source package,
# cached under ~/.cache/foresight) with simulated nodes. Leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
hack/control-plane.sh build
swift build --build-tests
swift build --product foresight
swift build --product foresight-node-simulator
dir=$(mktemp -d "${TMPDIR:-/tmp}/foresight-e2e.XXXXXX")
cleanup() {
  local rc=$?
  hack/control-plane.sh down "$dir" || true
  if [ $rc -ne 0 ]; then
    echo "[test] failed; logs of the control plane and of the processes the tests started are in $dir" >&2
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT
# Unit tests first (CPU-heavy in a debug build), then the end-to-end tests alone, so the control
# plane is never starved of the machine's two cores while a test waits on it.
export FORESIGHT_REQUIRE_E2E=1
swift test --skip-build --skip EndToEndTests
hack/control-plane.sh up "$dir"
FORESIGHT_E2E_DIR="$dir" swift test --skip-build --filter EndToEndTests
