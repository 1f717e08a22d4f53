#!/usr/bin/env bash
# host-deps.sh installs the host packages the tests need beyond Go: iproute2
# (the `ip` command, for the netlink tests' network namespaces and veth
# pairs) and awscli (the `aws` command: awssim's TestAWSCLI checks the AWS
# emulator against a second, independent AWS client). It does nothing when
# they are present, and says what is missing when it cannot install (not
# root, no apt-get).
set -euo pipefail
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
