//go:build tools

// Package tools keeps the helm CLI in go.mod / go.sum so that `go mod tidy` does
// not drop it. Nothing here is compiled; build.sh runs `go build` on this main package.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
