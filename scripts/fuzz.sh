#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 20s). Targets are discovered with `go test -list`, so
# a new FuzzXxx is included without touching this script. A failure leaves
# the crasher in the package's testdata/fuzz/<target>/ — commit it: it is
# then a regression test that plain `go test` runs.
# Usage: scripts/fuzz.sh [package patterns...]   (default ./...)
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
failed=()
n=0
for pkg in $($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${pkgs[@]}"); do
	targets=$($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for target in $targets; do
		n=$((n + 1))
		echo "== $pkg $target ($FUZZTIME)"
		if ! $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done
echo "fuzz: $n target(s), ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  FAILED %s\n' "${failed[@]}"
	echo "crashers are in the packages' testdata/fuzz/<target>/: commit them as regression tests"
	exit 1
fi
