//go:build tools

// Package etcdtools pins the etcd server that e2e/tools/tools.sh builds.
package etcdtools

import _ "go.etcd.io/etcd/server/v3"
