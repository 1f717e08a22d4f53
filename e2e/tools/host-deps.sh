#!/usr/bin/env bash
# host-deps.sh installs the host packages the tests need beyond Go: iproute2
# (the `ip` command, for the netlink tests' network namespaces and veth
# pairs) and awscli (the `aws` command: awssim's TestAWSCLI checks the AWS
# emulator against a second, independent AWS client). It does nothing when
# they are present, and says what is missing when it cannot install (not
# root, no apt-get). It also warns when the disk is too full for make test.
set -euo pipefail

# Disk. make test needs about 3 GiB free under TMPDIR with warm caches (the
# race-built test binaries and each test cluster's etcd, whose WAL alone
# takes 64 MB) and about 15 GiB on a machine with cold caches (the Go build
# cache and the control-plane build). A full disk shows up much later as
# link or etcd WAL errors, so say it up front.
warn_free() {
  local path=$1 what=$2 need_mib=$3 free_mib
  mkdir -p "$path" 2>/dev/null || return 0
  free_mib=$(df -Pm "$path" 2>/dev/null | awk 'NR==2 {print $4}')
  [[ -n $free_mib ]] || return 0
  if ((free_mib < need_mib)); then
    echo "host-deps: WARNING: only ${free_mib} MiB free for $what ($path); make test needs about $((need_mib / 1024)) GiB there and fails with 'no space left on device' below that" >&2
  fi
}
warn_free "${TMPDIR:-/tmp}" "test binaries and test clusters" 3072
if command -v go >/dev/null 2>&1; then
  warn_free "$(go env GOCACHE)" "the Go build cache" 3072
fi

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v aws >/dev/null 2>&1 || missing+=(awscli)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "host-deps: missing packages: ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "host-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
