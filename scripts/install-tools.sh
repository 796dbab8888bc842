#!/usr/bin/env bash
# install-tools.sh [helm] [promtool]: install the SRE kit's tools when missing.
# helm is built from source through the Go module proxy into the git-ignored
# .cache/bin (design decision 14); promtool/prometheus come from Debian's
# `prometheus` package (apt-get, as root) — no downloads from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=${HELM_VERSION:-v3.22.0}
want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=(helm promtool)
for tool in "${want[@]}"; do
  case "$tool" in
    helm)
      if [[ ! -x .cache/bin/helm ]]; then
        mkdir -p .cache/bin
        echo "install-tools: building helm $HELM_VERSION into .cache/bin" >&2
        GOBIN="$PWD/.cache/bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
      fi ;;
    promtool|prometheus)
      if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
        echo "install-tools: installing Debian's prometheus package" >&2
        if [[ $(id -u) -ne 0 ]]; then echo "install-tools: run as root or install the prometheus package" >&2; exit 1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
        # the package's service is not wanted here
        (systemctl disable --now prometheus 2>/dev/null || true)
      fi ;;
    *) echo "install-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
