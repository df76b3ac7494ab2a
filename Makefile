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
	KELB_E2E_BUILD=1 $(GO) test -count=1 -timeout 60m ./...

# Unit and integration tests only, no local environment.
unit:
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

# Figures, side by side with HAProxy, nginx and a direct connection.
# L4 (kelb NLB vs HAProxy TCP mode) then L7 (kelb ALB vs HAProxy HTTP mode
# vs nginx proxy_pass): each script cleans up after itself and they use
# distinct ports; about 3 minutes in all.
bench: build
	bash bench/run.sh
	bash bench/l7.sh

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
