# kubedag build, test and demo entry points. `make demo` and `make test` are the
# two commands the README starts with.

GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
TOOLS_DIR := $(shell e2e/tools/tools.sh --print-dir)
IMAGE     ?= kubedag:$(VERSION)

export KUBEDAG_TOOLS_DIR := $(TOOLS_DIR)

.PHONY: all build test unit fmt-check mod-check vet tools host-deps bench demo generate image clean

all: build

## build: $(BIN)/kubedag (every subcommand) and $(BIN)/kubedag-agent (the agent alone, which
## the DaemonSet runs: a third of the size, and a binary's pages count in a node agent's memory);
## $(BIN)/kubectl-kubedag is a hard link to kubedag: on PATH, it is the kubectl plugin
## (`kubectl kubedag explain ...`; the binary names itself from argv[0]).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/kubedag ./cmd/kubedag-agent
	ln -f $(BIN)/kubedag $(BIN)/kubectl-kubedag

## test: gofmt check, go mod tidy check, go vet, the control-plane tools, then every test (race detector on),
## including the check that api/agent/v1's generated code matches agent.proto.
test: fmt-check mod-check vet tools host-deps
	KUBEDAG_CHECK_GENERATED=1 $(GO) test -race -timeout 45m ./...

# Test tiers, by package name: packages named apiservertest need the control-plane tools
# (kube-apiserver, etcd, kwok; `make tools`), packages named netnstest need root (network
# namespaces); charts/ (helm), the agent and scale benchmarks e2e/bench/{agentbench,scale} and the whole-system
# packages e2e/cluster, e2e/system and e2e/sandwich need the tools too. Everything else is hermetic: only Go, any user.
INTEGRATION_PKGS := /(apiservertest|netnstest)$$|/kubedag/(charts|e2e/(cluster|system|sandwich|bench/(agentbench|scale)))$$

## unit: the hermetic tests only (no tools, no root; under a minute with a warm build cache).
unit:
	$(GO) test -race $$($(GO) list ./... | grep -Ev '$(INTEGRATION_PKGS)')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^e2e/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## mod-check: go.mod and go.sum are what `go mod tidy` makes (direct dependencies not
## marked indirect, nothing required that nothing imports).
mod-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

vet:
	$(GO) vet ./...

## host-deps: host packages the tests need (iproute2 for the netlink tests, awscli for awssim's TestAWSCLI);
## warns when TMPDIR or the Go build cache has under 3 GiB free.
host-deps:
	e2e/tools/host-deps.sh

## tools: build kube-apiserver, etcd, controller-manager, scheduler, kubectl, kwok, helm (cached).
tools:
	e2e/tools/tools.sh

## generate: regenerate checked-in generated code (protobuf/gRPC of api/agent/v1) with buf.
generate:
	cd api/agent/v1 && $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate

## demo: the README's first command. Builds the control-plane tools (cached; the first run
## compiles Kubernetes from the Go module proxy, with a heartbeat) and $(BIN)/kubedag, then runs
## `kubedag demo`: pods created, relabelled, scaled and deleted on kwok nodes, and the emulated
## firewall's IP tags following them, until Ctrl-C. DEMO_FLAGS=--once runs the scripted steps only.
DEMO_FLAGS ?=
demo: tools build
	$(BIN)/kubedag demo $(DEMO_FLAGS)

## bench: every benchmark of DESIGN.md "Performance goals" (kubedag bench at the sizes of the goals),
## tables written to $(BENCH_RESULTS) with the machine and the commands. Takes about 10 minutes and
## every core it can get: run it alone. BENCH_LONG=1 adds the long runs (500,000-IP restart, the
## package benchmarks, the scale run at 200 nodes / 10,000 pods: 15 minutes or more); BENCH_SMALL=1
## runs every section at a tiny size (for checking the script; leaves out the agent and scale runs,
## which make test runs small in their own packages).
BENCH_RESULTS ?= e2e/bench/results.md
bench: tools build
	BENCH_LONG=$(BENCH_LONG) BENCH_SMALL=$(BENCH_SMALL) e2e/bench/run.sh $(BIN)/kubedag $(BENCH_RESULTS)

## image: build the container image $(IMAGE) from the Dockerfile (same binaries as `make build`).
## Needs a container builder: docker, podman or buildah (first found on PATH, or
## CONTAINER_BUILDER=...). Example: make image IMAGE=ghcr.io/kubedag/kubedag:v0.1.0
## PLATFORMS=linux/amd64,linux/arm64 builds a multi-platform image (docker buildx, or a
## podman/buildah manifest list named $(IMAGE)); push it with your builder.
CONTAINER_BUILDERS ?= docker podman buildah
PLATFORMS ?=
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
image:
	@builder="$(CONTAINER_BUILDER)"; \
	if [ -z "$$builder" ]; then \
	  for b in $(CONTAINER_BUILDERS); do if command -v "$$b" >/dev/null 2>&1; then builder=$$b; break; fi; done; \
	fi; \
	if [ -z "$$builder" ]; then \
	  echo "make image: no container builder found (looked for: $(CONTAINER_BUILDERS))." >&2; \
	  echo "Install docker, podman or buildah, or set CONTAINER_BUILDER=/path/to/builder." >&2; \
	  exit 1; \
	fi; \
	args="--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION)"; \
	if [ -z "$(PLATFORMS)" ]; then set -- build $$args -t $(IMAGE) .; \
	else case "$$(basename "$$builder")" in \
	  docker*) set -- buildx build --platform $(PLATFORMS) $$args -t $(IMAGE) . ;; \
	  *) set -- build --platform $(PLATFORMS) $$args --manifest $(IMAGE) . ;; \
	esac; fi; \
	echo "$$builder $$*"; \
	"$$builder" "$$@"

clean:
	rm -rf $(BIN)
