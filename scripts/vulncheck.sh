#!/usr/bin/env bash
# vulncheck.sh [packages…]: govulncheck against an offline vulnerability
# database (decision 0026). The database is golang.org/x/vulndb from the Go
# module proxy, indexed by its cmd/indexdb into .cache/vulndb; the scan runs
# under the toolchain go.mod pins (GOTOOLCHAIN=auto), so the standard library
# it checks is the one our binaries are built with. Exit status is
# govulncheck's: non-zero when our code reaches a known vulnerability.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-tools.sh govulncheck vulndb
export GOTOOLCHAIN=${GOTOOLCHAIN_VULNCHECK:-auto}
(($#)) || set -- ./...
exec .cache/bin/govulncheck -db "file://$PWD/.cache/vulndb/current" "$@"
