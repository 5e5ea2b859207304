#!/usr/bin/env bash
# Install the Debian packages the tests and the demo run for real: Prometheus (and promtool),
# Chromium (the duty console's browser test) and kcat. Idempotent: does nothing when all are present.
# Needs root (or sudo) the first time on a fresh machine.
set -euo pipefail

declare -A wanted=(
  [prometheus]=prometheus   # command -> Debian package
  [promtool]=prometheus
  [chromium]=chromium
  [kcat]=kcat
)

missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "installing Debian packages: $packages"
run_as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get update -qq
# shellcheck disable=SC2086
run_as_root apt-get install -y -qq --no-install-recommends $packages fonts-dejavu-core >/dev/null
# The Debian package starts a system Prometheus on :9090; the project runs its own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  run_as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
pkill -u prometheus -x prometheus 2>/dev/null || true
