# kelb: Elastic Load Balancing for any Kubernetes cluster.
GO ?= go
BIN := bin/kelb

.PHONY: all build image test unit vet bench up down shell conformance conformance-counts

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kelb

# kelb's OCI image, built without a container daemon (cmd/kelb-image): the
# static binary on an empty base, as an OCI layout (bin/kelb-image) and a
# tarball (bin/kelb-image.tar) for docker load, podman load or crane push.
# Reproducible: the same commit and toolchain give the same digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE ?= ghcr.io/kelb-io/kelb:latest

image:
	mkdir -p bin
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./cmd/kelb-image -tag $(IMAGE) \
		-revision "$$(git rev-parse HEAD 2>/dev/null)" -layout bin/kelb-image -tarball bin/kelb-image.tar

# Everything: vet, unit and integration tests, and the e2e tests in the local
# environment (they need root or user namespaces, and skip with the reason
# otherwise).
test: vet
	KELB_E2E_BUILD=1 $(GO) test -count=1 -timeout 60m ./...

# Unit and integration tests only, no local environment.
unit:
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

# The Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance,
# the version in go.mod) against kelb controller in its own kelb up
# environment: GATEWAY-HTTP and GATEWAY-GRPC on aws-alb-gateway-class,
# GATEWAY-TLS on aws-nlb-gateway-class. Writes the reports to
# conformance/reports/<version>/kelb/. Needs root, like the e2e tests.
conformance:
	KELB_CONFORMANCE=1 $(GO) test -count=1 -timeout 120m -v -run '^TestGatewayAPI$$' ./test/conformance/

# How many conformance cases kelb's tests hold per operation of the ELBv2,
# EC2 and ACM APIs kelb server serves, read from test/server's source; fails
# when an operation has none.
conformance-counts:
	$(GO) run ./test/conformancecounts

# Figures, side by side with HAProxy, nginx and a direct connection.
# L4 (kelb NLB vs HAProxy TCP mode) then L7 (kelb ALB vs HAProxy HTTP mode
# vs nginx proxy_pass): each script cleans up after itself and they use
# distinct ports; about 3 minutes in all.
bench: build
	bash bench/run.sh
	bash bench/l7.sh
	bash bench/tls.sh

# The local environment with a working example: seed 000's ui-nlb Service,
# a network load balancer in IP mode in front of the ui Deployment.
up: build
	./$(BIN) up
	./$(BIN) shell -- kubectl apply -f examples/ui-nlb.yaml
	./$(BIN) shell -- kubectl wait -n ui --for=condition=Available deployment/ui --timeout=120s
	./$(BIN) shell -- kubectl wait -n ui --for=jsonpath='{.status.loadBalancer.ingress[0].hostname}' service/ui-nlb --timeout=120s
	./$(BIN) shell -- sh -c 'curl -sS --retry 10 --retry-all-errors --retry-delay 1 http://$$(kubectl get service -n ui ui-nlb -o jsonpath="{.status.loadBalancer.ingress[0].hostname}")/ | head -n 4'
	@echo
	@echo "kelb is up. Try: ./$(BIN) shell, then the walkthrough in README.md. ./$(BIN) down removes everything."

down:
	./$(BIN) down

shell:
	./$(BIN) shell
