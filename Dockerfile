# syntax=docker/dockerfile:1
# The kubedag image: the one static `kubedag` binary (agent, aggregator, panos-sim,
# ...) on a distroless non-root base. Build with `make image` (docker, podman or
# buildah). The build stage compiles exactly what `make build` compiles; a test
# (charts/dockerfile_test.go) keeps the two in step.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
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
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/kubedag ./cmd/kubedag

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kubedag /kubedag
USER 65532:65532
ENTRYPOINT ["/kubedag"]
