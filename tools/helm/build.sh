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
force=0
[[ "${1:-}" == "--force" ]] && force=1

die() { echo "tools/helm/build.sh: ERROR: $*" >&2; exit 1; }
log() { echo "[helm-build] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

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

binary_ok() {
  [[ -x "$helm" ]] || return 1
  # `helm version --template` needs no kubeconfig and no network.
  [[ "$("$helm" version --template '{{.Version}}' 2>/dev/null)" == "$helm_version" ]] || return 1
}

t_all="$(now)"
if [[ $force == 0 ]] && binary_ok; then
  log "up to date: helm $helm_version in $out (checked in $(since "$t_all"))"
  echo "$helm"
  exit 0
fi

mkdir -p "$out" || die "cannot create $out"
exec 9>"$out/.build.lock"
if ! flock -n 9; then
  log "another build holds $out/.build.lock; waiting for it"
  flock 9
  if [[ $force == 0 ]] && binary_ok; then
    log "built by the other run: $helm"
    echo "$helm"
    exit 0
  fi
fi

# --- Go toolchain ---------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
  [[ -x /usr/local/go/bin/go ]] && export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || die "no Go toolchain: install Go >= 1.26 (looked in PATH and /usr/local/go/bin)"
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
[[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge 26 ]] || die "Go $(go env GOVERSION) is too old; helm $helm_version needs Go >= 1.26"

export CGO_ENABLED=0
export GOTOOLCHAIN=local                   # never fetch a toolchain
export GOFLAGS="-mod=readonly -buildvcs=false"   # go.sum is committed and complete
niceness=(nice -n "${SSO_HELM_NICE:-19}")

log "building helm $helm_version with $(go env GOVERSION) into $out"
log "module cache: $(go env GOMODCACHE); build cache: $(go env GOCACHE)"
cd "$here"

t="$(now)"
# go list loads every package of the binary, so this fetches exactly the module zips
# the build needs (a plain `go mod download` only fetches the graph's go.mod files).
if ! "${niceness[@]}" go list -deps helm.sh/helm/v3/cmd/helm >/dev/null; then
  die "downloading the Go modules failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
fi
log "phase modules: $(since "$t")"

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

t="$(now)"
"${niceness[@]}" go build -trimpath -ldflags "$ldflags" -o "$helm.tmp" helm.sh/helm/v3/cmd/helm \
  || die "go build helm.sh/helm/v3/cmd/helm failed"
mv -f "$helm.tmp" "$helm"
log "phase helm: $(since "$t")"

binary_ok || die "the built binary does not report the pinned version: $("$helm" version 2>&1 | head -1)"
log "done in $(since "$t_all"): $("$helm" version --short)"
echo "$helm"
