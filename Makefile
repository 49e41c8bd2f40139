# Nori: `make run` to start a node, `make test` to test everything.
SHELL        := /bin/bash
.DEFAULT_GOAL := help

VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO           ?= go
LDFLAGS      := -s -w -X github.com/nori-net/nori/agent/api.BuildVersion=$(VERSION)
BIN          := $(CURDIR)/bin
PREFIX       ?= /usr/local
CNI_BIN_DIR  ?= /opt/cni/bin
CNI_CONF_DIR ?= /etc/cni/net.d
RUN_DIR      ?= /run/nori
# E2E and privileged tests need root; a whole `make test` stays under ~20 min on 2 cores.
TEST_TIMEOUT ?= 25m

.PHONY: help build generate check-generated install run stop test test-deps test-unit test-e2e bench lint clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build every binary into bin/
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/nori-agent ./agent/cmd/nori-agent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/nori ./agent/cmd/nori
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/nori-cni ./plugins/cni
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/nori-ipam ./plugins/ipam
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/nori-docker ./plugins/docker

generate: ## rebuild the eBPF objects with clang-14 (installs clang-14 and libbpf-dev when missing)
	scripts/generate.sh

check-generated: generate ## fail when the committed eBPF objects differ from a fresh build
	git diff --exit-code -- agent/datapath/bpfobj

install: build ## install binaries, the default conflist and the systemd unit
	install -d $(PREFIX)/bin $(CNI_BIN_DIR) $(CNI_CONF_DIR)
	install -m 0755 $(BIN)/nori-agent $(BIN)/nori $(BIN)/nori-docker $(PREFIX)/bin/
	install -m 0755 $(BIN)/nori-cni $(BIN)/nori-ipam $(CNI_BIN_DIR)/
	install -m 0644 conf/10-nori.conflist $(CNI_CONF_DIR)/10-nori.conflist
	@# portmap (and nerdctl's own bridge networks) come from Debian's
	@# containernetworking-plugins in /usr/lib/cni; nerdctl looks in /opt/cni/bin.
	@for p in /usr/lib/cni/*; do [ -e "$$p" ] && [ ! -e $(CNI_BIN_DIR)/$$(basename $$p) ] && ln -s $$p $(CNI_BIN_DIR)/ || true; done
	@if [ -d /etc/systemd/system ]; then install -m 0644 conf/nori-agent.service conf/nori-docker.service /etc/systemd/system/; fi

run: install ## build, install and start the agent with its embedded store
	scripts/run-agent.sh

stop: ## stop the agent started by `make run` (containers stay connected)
	scripts/run-agent.sh stop

test-deps: ## install what the tests need (Debian packages, nerdctl, busybox image)
	scripts/install-test-deps.sh

test: test-deps build ## install test dependencies, then run unit, kernel and end-to-end tests
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	NORI_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	NORI_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags e2e -v ./tests/e2e/...

test-unit: ## run unit and kernel tests only (root)
	$(GO) test -count=1 ./...

test-e2e: build ## run only the end-to-end tests (root; run test-deps first)
	NORI_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags e2e -v ./tests/e2e/...

bench: test-deps build ## benchmarks against the anchors named in the issues; prints tables with ratios
	NORI_BIN_DIR=$(BIN) $(GO) test -count=1 -tags bench -run TestBench -v -timeout 20m ./tests/bench

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./tests/...

clean: ## remove build output
	rm -rf $(BIN) .cache
