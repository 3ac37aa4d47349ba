# streamcart. `make run` starts the whole system locally; `make test` is what
# CI runs (.ci/run). System packages are installed by scripts/deps.sh.

GO   ?= go
BIN  := bin/streamcart
# Where `make run` keeps Redis and PostgreSQL data between runs.
DATA ?= ./data
# Extra arguments for `streamcart dev`, e.g. make run ARGS='--addr :9090' (see bin/streamcart dev -h).
ARGS ?=

# Prometheus configuration and alert rules, checked by promtool (Debian's
# prometheus package, which scripts/deps.sh installs).
OBS := deploy/observability

# Fuzz targets, package:name. `make test` runs each for FUZZTIME_TEST;
# `make fuzz` for FUZZTIME (e.g. make fuzz FUZZTIME=10m).
FUZZ_TARGETS := \
	./internal/platform/web:FuzzDecodeJSON \
	./internal/platform/web:FuzzIntQuery \
	./internal/platform/web:FuzzCheckURL \
	./internal/products:FuzzSearchQuery \
	./internal/orders:FuzzCreateRequest \
	./internal/cart:FuzzPutItem \
	./internal/gateway:FuzzTutorialCreateOrder \
	./internal/gateway:FuzzTutorialProductFilter \
	./internal/gateway:FuzzParseUnitsAndQty \
	./internal/stream:FuzzDecodeEvent \
	./internal/platform/tracing:FuzzParent
FUZZTIME_TEST ?= 2s
FUZZTIME ?= 1m

.PHONY: all deps build run test test-short vet rules fuzz fuzz-run bench bench-stream bench-overhead bench-cost chaos images compose-test k8s-test clean

all: build

deps:
	@bash scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/streamcart

run: deps build
	./$(BIN) dev --data $(DATA) $(ARGS)

vet:
	$(GO) vet ./...

test: deps vet rules
	@bash scripts/deps.sh --browser
	$(GO) test -race -count=1 -timeout 15m ./...
	@$(MAKE) --no-print-directory fuzz-run FUZZTIME=$(FUZZTIME_TEST)
	@$(MAKE) --no-print-directory k8s-test

# The Kubernetes manifests (deploy/k8s): every overlay rendered with the
# kustomize library and decoded strictly into the Kubernetes and KEDA types,
# then checked. A module of its own (deploy/go.mod), so that the Kubernetes
# libraries stay out of streamcart's.
k8s-test:
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

# The Prometheus configuration, the alert rules and their unit tests.
rules:
	promtool check config $(OBS)/prometheus.yml
	promtool test rules $(OBS)/alerts_test.yml

# Every fuzz target for FUZZTIME each (go test -fuzz takes one target of
# one package at a time). New failing inputs land in the package's
# testdata/fuzz/<FuzzName>/: commit them with the fix.
fuzz: fuzz-run

fuzz-run:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

# Skips integration tests only where a server binary is missing.
test-short:
	$(GO) test -short -count=1 ./...

# A short load test (about 20 s) of a fresh streamcart dev; RATE=… DURATION=…
bench: deps build
	bash scripts/bench.sh

bench-stream: deps
	bash scripts/bench-stream.sh

# What metrics and tracing cost: fresh streamcart dev instances with both
# off and both on, in alternation (ROUNDS=… pairs, RATE=…, DURATION=…).
bench-overhead: deps build
	bash scripts/bench-overhead.sh

# What an order costs (issue 14): Redis commands and round trips, HTTP
# requests by route, PostgreSQL commits and CPU ms per order, on a fresh
# streamcart dev at RATE (300) orders/s for DURATION (20s); BASE=<git
# revision> runs that commit too, in alternation (ROUNDS=… of each).
bench-cost: deps build
	bash scripts/bench-cost.sh

# The fault suite (about 4 minutes; not part of `make test`): the system as
# separate processes on its own Redis and PostgreSQL, under load, one fault
# per scenario; one line per scenario with its figures and PASS or FAIL.
# CHAOS_RUN=<part of a scenario's name> runs only the matching ones.
chaos: deps build
	STREAMCART_BIN=$(abspath $(BIN)) $(GO) test -tags chaos -count=1 -timeout 15m -v -run '^TestFaultSuite$$' ./internal/chaos

# The images of deploy/compose, made on this machine (offline if need be:
# Redis and PostgreSQL from the Debian mirror), named in deploy/compose/.env.
# Needs a running Docker daemon.
images:
	@bash scripts/deps.sh --docker
	bash scripts/images.sh

# deploy/compose for real (about 3 minutes; 8 the first time, which makes
# the Debian image): starts a Docker daemon if none answers, the stack on a
# free port, 50 orders/s for 30 s through the gateway, one payments
# container killed 10 s in; fails if an order is lost or stuck, or if
# Docker cannot run here. RATE=… DURATION=… KILL_AFTER=…
compose-test:
	bash scripts/compose-test.sh

# Leaves $(DATA) alone: it holds the local databases.
clean:
	rm -rf bin
