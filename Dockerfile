# syntax=docker/dockerfile:1
# The kubedag image: the static `kubedag` binary (aggregator, agent, panos-sim, ...)
# and `kubedag-agent` (the agent alone, which the chart's DaemonSet runs: its pages
# count in every node's agent memory) on a distroless non-root base. Build with
# `make image` (docker, podman or buildah). The build stage compiles exactly what
# `make build` compiles; a test (charts/dockerfile_test.go) keeps the two in step.

# Base images are pinned by digest (multi-platform index digests, as published
# for these tags in 2026; this machine reaches no registry, so refresh and
# check them where you build: `crane digest golang:1.26`, `crane digest
# gcr.io/distroless/static-debian12:nonroot`). Override with --build-arg.
ARG GO_VERSION=1.26
ARG GO_DIGEST=sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}@${GO_DIGEST} AS build
# Set by BuildKit and buildah from --platform. No defaults: a default would
# override them (a linux/arm64 build would ship an amd64 binary); left empty
# by a builder that does not set them, go builds for the build host.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# Modules come from the Go module proxy; override for a mirror.
ARG GOPROXY=https://proxy.golang.org,direct
ENV GOPROXY=${GOPROXY} GOFLAGS=-mod=readonly
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/kubedag ./cmd/kubedag-agent

FROM ${BASE_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kubedag" \
      org.opencontainers.image.description="Kubernetes identity as PAN-OS Dynamic Address Group tags (User-ID IP-tags)" \
      org.opencontainers.image.source="https://github.com/kubedag/kubedag" \
      org.opencontainers.image.url="https://github.com/kubedag/kubedag" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/kubedag /kubedag
COPY --from=build /out/kubedag-agent /kubedag-agent
USER 65532:65532
ENTRYPOINT ["/kubedag"]
