# streamcart. `make run` starts the whole system locally; `make test` is what
# CI runs (.ci/run). System packages are installed by scripts/deps.sh.

GO   ?= go
BIN  := bin/streamcart
# Where `make run` keeps Redis and PostgreSQL data between runs.
DATA ?= ./data
# Extra arguments for `streamcart dev`, e.g. make run ARGS='--addr :9090' (see bin/streamcart dev -h).
ARGS ?=

.PHONY: all deps build run test test-short vet bench bench-stream clean

all: build

deps:
	@bash scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/streamcart

run: deps build
	./$(BIN) dev --data $(DATA) $(ARGS)

vet:
	$(GO) vet ./...

test: deps vet
	@bash scripts/deps.sh --browser
	$(GO) test -race -count=1 -timeout 15m ./...

# Skips integration tests only where a server binary is missing.
test-short:
	$(GO) test -short -count=1 ./...

# A short load test (about 20 s) of a fresh streamcart dev; RATE=… DURATION=…
bench: deps build
	bash scripts/bench.sh

bench-stream: deps
	bash scripts/bench-stream.sh

# Leaves $(DATA) alone: it holds the local databases.
clean:
	rm -rf bin
