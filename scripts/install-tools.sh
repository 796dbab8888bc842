#!/usr/bin/env bash
# install-tools.sh [helm] [promtool] [schemathesis] [govulncheck] [vulndb]:
# install the project's tools when missing, at pinned versions.
# helm is built from source through the Go module proxy into the git-ignored
# .cache/bin (design decision 14); promtool/prometheus come from Debian's
# `prometheus` package (apt-get, as root). schemathesis comes from PyPI into a
# project-local virtualenv (.cache/schemathesis, python3 ≥ 3.10), linked as
# .cache/bin/schemathesis. govulncheck is built through the Go module proxy;
# its vulnerability database is the module golang.org/x/vulndb (also from the
# proxy), whose cmd/indexdb turns data/osv into .cache/vulndb/<version>
# (decision 0026) — `govulncheck -db file://…` then needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=${HELM_VERSION:-v3.22.0}
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
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
    schemathesis)
      venv=.cache/schemathesis
      if [[ "$("$venv/bin/st" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
        echo "install-tools: installing schemathesis $SCHEMATHESIS_VERSION into $venv (PyPI)" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
      fi
      mkdir -p .cache/bin
      ln -sf ../schemathesis/bin/st .cache/bin/schemathesis ;;
    govulncheck)
      if [[ "$(.cache/bin/govulncheck -version 2>/dev/null)" != *"govulncheck@$GOVULNCHECK_VERSION"* ]]; then
        mkdir -p .cache/bin
        echo "install-tools: building govulncheck $GOVULNCHECK_VERSION into .cache/bin" >&2
        GOFLAGS= GOBIN="$PWD/.cache/bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
      fi ;;
    vulndb)
      db=.cache/vulndb/$VULNDB_VERSION
      if [[ ! -f $db/index/db.json ]]; then
        echo "install-tools: building the vulnerability database golang.org/x/vulndb@$VULNDB_VERSION into $db" >&2
        src=$(GOFLAGS= go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        [[ -d $src/data/osv ]] || { echo "install-tools: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
        rm -rf "$db.tmp" && mkdir -p "$(dirname "$db")"
        GOFLAGS= go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
        rm -rf "$db" && mv "$db.tmp" "$db"
      fi
      ln -sfn "$VULNDB_VERSION" .cache/vulndb/current ;;
    *) echo "install-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
