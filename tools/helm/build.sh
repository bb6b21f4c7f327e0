#!/usr/bin/env bash
# Builds the helm CLI that the chart tests run (helm lint, helm template), from the Go
# module pinned in tools/helm/go.mod, into a cache folder outside the repo:
#
#   ${SSO_HELM_CACHE:-$HOME/.cache/sso-operator/helm}/<helm version>/helm
#
# Idempotent: when the binary exists and reports the pinned version it does nothing.
# A cold build (empty Go module and build caches) downloads the modules through the Go
# module proxy (~5 s) and compiles for about 2 minutes on 2 cores (measured for v3.22.0
# with Go 1.26.8: 108 s at nice 19, 167 CPU-seconds, 0.85 GB peak RSS); warm it takes
# 0.05 s. Concurrent runs are serialised with a lock file.
#
# Usage: tools/helm/build.sh [--force]       prints the binary path as its last line
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/build-go-tool.sh
source "$here/../lib/build-go-tool.sh"
go_tool_init helm "$@"

# --- versions come from go.mod, the single source of truth -------------------------
# A require line is `require M V` on its own or `M V` inside a require block.
modver() { awk -v m="$1" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go.mod"; }
helm_version="$(modver helm.sh/helm/v3)"
client_go_version="$(modver k8s.io/client-go)"
[[ -n "$helm_version" ]] || die "cannot read the helm.sh/helm/v3 version from $here/go.mod"
[[ -n "$client_go_version" ]] || die "cannot read the k8s.io/client-go version from $here/go.mod"

cache_root="${SSO_HELM_CACHE:-$HOME/.cache/sso-operator/helm}"
out="$cache_root/$helm_version"
helm="$out/helm"
niceness=(nice -n "${SSO_HELM_NICE:-19}")

binary_ok() {
  [[ -x "$helm" ]] || return 1
  # `helm version --template` needs no kubeconfig and no network.
  [[ "$("$helm" version --template '{{.Version}}' 2>/dev/null)" == "$helm_version" ]] || return 1
}

exit_if_built binary_ok "helm $helm_version" "$helm"
use_go 26 "helm $helm_version"
start_build "helm $helm_version" helm.sh/helm/v3/cmd/helm

# The same ldflags as helm's Makefile: the version, and the Kubernetes version that
# `helm template` / `helm lint` assume without a cluster (client-go v0.N -> 1.N).
k8s_minor="$(echo "$client_go_version" | cut -d. -f2)"
ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
build_binary "$helm" "$ldflags" helm.sh/helm/v3/cmd/helm

binary_ok || die "the built binary does not report the pinned version: $("$helm" version 2>&1 | head -1)"
log "done in $(since "$t_all"): $("$helm" version --short)"
echo "$helm"
