//go:build tools

// Package tools keeps the control-plane binaries in go.mod / go.sum so that
// `go mod tidy` does not drop them. Nothing here is compiled; build.sh runs
// `go build` on these two main packages.
package tools

import (
	_ "go.etcd.io/etcd/server/v3" // etcd's main package (v3.6: the module root)
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
