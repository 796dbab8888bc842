# orderpipe — targets a newcomer can guess. `make help` lists them.
GO       ?= go
GOBIN    := $(CURDIR)/.cache/bin
GOLANGCI := $(GOBIN)/golangci-lint
GOLANGCI_VERSION := v2.15.0
TEST_TIMEOUT ?= 18m
# Time per fuzz target in `make fuzz`.
FUZZTIME ?= 20s
# Race-detector tests on 2 cores: keep parallel packages bounded.
TEST_P ?= 2
# Build and test with the patched toolchain go.mod's `toolchain` line pins
# (fetched once from the Go module proxy; decision 0026). The machine's own
# go may be older and set GOTOOLCHAIN=local, which ignores that line.
export GOTOOLCHAIN ?= auto

.PHONY: help run build test test-short schemathesis-long lint vet vulncheck fmt bench clean stack-up stack-down helm-test chaos fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## the whole pipeline on an embedded Kafka + real PostgreSQL/Redis, one base URL (Ctrl-C stops it)
	$(GO) run ./cmd/orderpipe dev

build: ## build every binary into bin/
	$(GO) build -o bin/ ./cmd/...

test: ## the full suite with -race against real Apache Kafka, PostgreSQL and Redis
	./scripts/with-stack.sh -- env ORDERPIPE_REQUIRE_REAL=1 LOCALSTACK_TEST=1 \
		$(GO) test -race -count=1 -p $(TEST_P) -timeout $(TEST_TIMEOUT) ./...

chaos: ## the bounded Black Friday proof (~3 min of traffic, 3 brokers, kill -9, outages; fails on any lost/duplicated/oversold order)
	$(GO) run ./cmd/orderpipe chaos

schemathesis-long: ## schemathesis against the live stack, 10 min per service, random seed (make test runs a bounded pass); result in docs/security.md
	./scripts/install-tools.sh schemathesis
	./scripts/with-stack.sh --dir .local/schemathesis-long -- env ORDERPIPE_REQUIRE_REAL=1 SCHEMATHESIS_MAX_TIME=$${SCHEMATHESIS_MAX_TIME:-600} \
		SCHEMATHESIS_MAX_EXAMPLES=1000 SCHEMATHESIS_RANDOM=1 SCHEMATHESIS_VERBOSE=1 \
		$(GO) test -count=1 -v -timeout 60m -run TestSchemathesis ./internal/proptest/

helm-test: ## the chart (helm lint --strict, strict manifests, values schema), alerts (promtool) and dashboards; part of `make test`
	./scripts/install-tools.sh helm promtool
	$(GO) test -count=1 ./deploy/helm/...

test-short: ## fast tests only: kfake for Kafka, PostgreSQL/Redis tests skipped
	$(GO) test -short ./...

vet: ## go vet
	$(GO) vet ./...

$(GOLANGCI):
	GOBIN=$(GOBIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: vet $(GOLANGCI) vulncheck ## go vet + golangci-lint (installed from the Go module proxy) + govulncheck
	$(GOLANGCI) run ./...

vulncheck: ## govulncheck ./... on an offline database built from golang.org/x/vulndb (zero reachable findings)
	./scripts/vulncheck.sh ./...

fmt: $(GOLANGCI) ## format the code
	$(GOLANGCI) fmt ./...

fuzz: ## every Go fuzz target (found with go test -list), FUZZTIME each (default 20s); crashers land in testdata/fuzz — commit them
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench: ## Go benchmarks (numbers go in docs/benchmarks.md)
	./scripts/with-stack.sh -- $(GO) test -run '^$$' -bench . -benchmem ./...

stack-up: ## start real Kafka, PostgreSQL and Redis in .local/test (env in .local/test/env)
	$(GO) run ./cmd/orderpipe stack up --dir .local/test --env-file .local/test/env

stack-down: ## stop them
	$(GO) run ./cmd/orderpipe stack down --dir .local/test

clean: ## remove build output and local data (keeps the jar/tool cache)
	-$(GO) run ./cmd/orderpipe stack down --dir .local/test
	rm -rf bin .local
