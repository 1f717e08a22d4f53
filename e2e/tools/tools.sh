#!/usr/bin/env bash
# tools.sh builds the pinned control-plane binaries the tests and the demo run
# (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok,
# helm) from the Go module proxy into a versioned cache outside the work tree.
# Already-built binaries are skipped, so a second run takes a second.
#
# Usage: e2e/tools/tools.sh [--print-dir]
set -euo pipefail

K8S_VERSION=v1.37.2
K8S_STAGING=v0.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/tools
dir=${KUBEDAG_TOOLS_DIR:-$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION}

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$dir"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Fail fast and clearly when the module proxy is out of reach.
check_proxy() {
  local proxy
  proxy=$(go env GOPROXY | cut -d, -f1)
  case "$proxy" in off|direct|"") return 0 ;; esac
  if command -v curl >/dev/null 2>&1; then
    if ! curl -fsS --max-time 20 -o /dev/null "$proxy/k8s.io/kubernetes/@v/$K8S_VERSION.info"; then
      log "ERROR: cannot reach the Go module proxy ($proxy); the control-plane binaries build from it."
      log "       Set GOPROXY to a reachable proxy, or prebuild into $dir."
      exit 1
    fi
  fi
}

# build NAME CMD... runs CMD (which must write $dir/NAME) unless NAME exists,
# printing a heartbeat so a long first build does not look hung.
build() {
  local name=$1; shift
  if [[ -x "$dir/$name" ]]; then
    log "$name: cached"
    return 0
  fi
  log "$name: building (first build can take many minutes on 2 cores)..."
  local start=$SECONDS
  ( while sleep 30; do log "$name: still building ($((SECONDS - start))s)"; done ) &
  local beat=$!
  # Do not leave the heartbeat running if the build is interrupted.
  trap "kill $beat 2>/dev/null || true" EXIT
  local rc=0
  "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  trap - EXIT
  if [[ $rc -ne 0 ]]; then
    log "ERROR: $name failed to build (exit $rc)"
    exit $rc
  fi
  log "$name: built in $((SECONDS - start))s"
}

k8s_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=37 \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=37"

k8s_build() {
  local pkg=$1 out=$2
  (cd "$here/k8s" && go build -trimpath -ldflags "$k8s_ldflags" -o "$dir/$out.tmp" "$pkg" && mv "$dir/$out.tmp" "$dir/$out")
}

etcd_build() {
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3 && mv "$dir/etcd.tmp" "$dir/etcd")
}

# goinstall installs into a scratch GOBIN inside $dir, then renames: a rename
# within one file system is atomic, so an interrupted build never leaves a
# partial binary that a later run would take as cached.
goinstall() {
  local name=$1 pkg=$2 ldflags="-s -w ${3:-}"
  local gobin rc=0
  gobin=$(mktemp -d "$dir/.gobin.XXXXXX")
  GOBIN=$gobin go install -trimpath -ldflags "$ldflags" "$pkg" && mv "$gobin/$name" "$dir/$name" || rc=$?
  rm -rf "$gobin"
  return $rc
}

need=0
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm; do
  [[ -x "$dir/$b" ]] || need=1
done
if [[ $need -eq 1 ]]; then
  check_proxy
fi

build etcd etcd_build
build kube-apiserver k8s_build k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
build kube-controller-manager k8s_build k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager
build kube-scheduler k8s_build k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler
build kubectl k8s_build k8s.io/kubernetes/cmd/kubectl kubectl
build kwok goinstall kwok sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION
# helm's own build sets these: without them `helm version` is empty and helm
# assumes Kubernetes v1.20 for `helm template` and `helm lint`. A helm cached
# before this line keeps its old flags (the tests pass --kube-version anyway).
k8s_minor=$(cut -d. -f2 <<<"$K8S_VERSION")
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
build helm goinstall helm helm.sh/helm/v3/cmd/helm@$HELM_VERSION "$helm_ldflags"

log "all tools ready in $dir"
echo "$dir"
