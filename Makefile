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
	./internal/stream:FuzzDecodeEvent
FUZZTIME_TEST ?= 2s
FUZZTIME ?= 1m

.PHONY: all deps build run test test-short vet rules fuzz fuzz-run bench bench-stream chaos clean

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

# The fault suite (about 4 minutes; not part of `make test`): the system as
# separate processes on its own Redis and PostgreSQL, under load, one fault
# per scenario; one line per scenario with its figures and PASS or FAIL.
# CHAOS_RUN=<part of a scenario's name> runs only the matching ones.
chaos: deps build
	STREAMCART_BIN=$(abspath $(BIN)) $(GO) test -tags chaos -count=1 -timeout 15m -v -run '^TestFaultSuite$$' ./internal/chaos

# Leaves $(DATA) alone: it holds the local databases.
clean:
	rm -rf bin
