#!/usr/bin/env bash
# Installs the system packages Foresight builds and tests with (Debian): libcurl and libyaml
# headers, pkg-config, Prometheus (for the history-source tests), and kubectl (Debian's kubernetes-client when none is on PATH).
set -euo pipefail
need=()
for p in libcurl4-openssl-dev libyaml-dev pkg-config ca-certificates curl openssl python3 prometheus; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "[deps] installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
