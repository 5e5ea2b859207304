#!/usr/bin/env bash
# Build helm from its Go module into .local/bin (the Go module proxy is the only source of it here).
# Idempotent: a helm of the pinned version already there is kept.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
cd "$(dirname "$0")/../.."
bin_dir="$PWD/.local/bin"
if [ -x "$bin_dir/helm" ] && "$bin_dir/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  exit 0
fi
mkdir -p "$bin_dir"
echo "building helm $HELM_VERSION with go install (first time only)"
GOBIN="$bin_dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install \
  -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$bin_dir/helm" version --short
