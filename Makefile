# kelb: Elastic Load Balancing for any Kubernetes cluster.
GO ?= go
BIN := bin/kelb

.PHONY: all build test unit vet bench up down shell

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kelb

# Everything: vet, unit and integration tests, and the e2e tests in the local
# environment (they need root or user namespaces, and skip with the reason
# otherwise).
test: vet
	$(GO) test -count=1 -timeout 60m ./...

# Unit and integration tests only, no local environment.
unit:
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

# Figures, side by side with HAProxy, nginx and a direct connection.
bench: build
	bash bench/run.sh

# The local environment with a working example.
up: build
	./$(BIN) up --example

down:
	./$(BIN) down

shell:
	./$(BIN) shell
