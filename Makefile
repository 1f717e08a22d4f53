# kubedag build, test and demo entry points. `make demo` and `make test` are the
# two commands the README starts with.

GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
TOOLS_DIR := $(shell e2e/tools/tools.sh --print-dir)
IMAGE     ?= kubedag:$(VERSION)

export KUBEDAG_TOOLS_DIR := $(TOOLS_DIR)

.PHONY: all build test unit fmt-check vet tools bench demo generate image clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubedag ./cmd/kubedag

## test: gofmt check, go vet, the control-plane tools, then every test (race detector on).
test: fmt-check vet tools
	$(GO) test -race -timeout 45m ./...

## unit: the tests without building the control-plane tools (tests that need them fail).
unit:
	$(GO) test -race ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^e2e/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## tools: build kube-apiserver, etcd, controller-manager, scheduler, kubectl, kwok, helm (cached).
tools:
	e2e/tools/tools.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
