#!/usr/bin/env bash
# Builds oauth2-proxy, the forward-auth peer that `npm run bench` measures
# /auth/verify against (test/bench/forward-auth.ts), from the Go module pinned in
# tools/peers/oauth2-proxy/go.mod, into a cache folder outside the repo:
#
#   ${SSO_OAUTH2_PROXY_CACHE:-$HOME/.cache/sso-operator/oauth2-proxy}/<version>/oauth2-proxy
#
# Idempotent: when the binary exists and reports the pinned version it does nothing.
# Only the Go module proxy is used (no release download). A cold build compiles for
# about 3 minutes on 2 cores (measured: 175 s at nice 19 next to other work); warm it
# takes well under a second. Concurrent runs are serialised with a lock file.
#
# Usage: tools/peers/oauth2-proxy/build.sh [--force]   prints the binary path as its last line
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../lib/build-go-tool.sh
source "$here/../../lib/build-go-tool.sh"
go_tool_init peers/oauth2-proxy "$@"

# --- the version comes from go.mod, the single source of truth ----------------------
modver() { awk -v m="$1" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go.mod"; }
version="$(modver github.com/oauth2-proxy/oauth2-proxy/v7)"
[[ -n "$version" ]] || die "cannot read the github.com/oauth2-proxy/oauth2-proxy/v7 version from $here/go.mod"

cache_root="${SSO_OAUTH2_PROXY_CACHE:-$HOME/.cache/sso-operator/oauth2-proxy}"
out="$cache_root/$version"
bin="$out/oauth2-proxy"
niceness=(nice -n "${SSO_OAUTH2_PROXY_NICE:-19}")

binary_ok() {
  [[ -x "$bin" ]] || return 1
  local ver
  ver=$("$bin" --version 2>/dev/null) || return 1
  [[ $ver == "oauth2-proxy $version "* ]] || return 1
}

exit_if_built binary_ok "oauth2-proxy $version" "$bin"
use_go 26 "oauth2-proxy $version"
start_build "oauth2-proxy $version" github.com/oauth2-proxy/oauth2-proxy/v7

# The release builds set the version the same way (its Makefile); without it
# --version prints "undefined".
build_binary "$bin" "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$version" github.com/oauth2-proxy/oauth2-proxy/v7

binary_ok || die "the built binary does not report the pinned version: $("$bin" --version 2>&1 | head -1)"
log "done in $(since "$t_all"): $("$bin" --version)"
echo "$bin"
