//go:build tools

// Package tools keeps oauth2-proxy in go.mod / go.sum so that `go mod tidy` does
// not drop it. Nothing here is compiled; build.sh runs `go build` on its main package.
package tools

import (
	_ "github.com/oauth2-proxy/oauth2-proxy/v7"
)
