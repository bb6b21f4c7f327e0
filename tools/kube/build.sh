#!/usr/bin/env bash
# Builds the kube-apiserver and etcd that the integration tests run against, from the
# Go modules pinned in tools/kube/go.mod, into a cache folder outside the repo:
#
#   ${SSO_KUBE_CACHE:-$HOME/.cache/sso-operator/kube}/<k8s version>/{kube-apiserver,etcd}
#
# Idempotent: when both binaries exist and report the pinned versions it does nothing.
# A cold build (empty Go module and build caches) downloads the modules through the Go
# module proxy (~6 s) and compiles for about 9 minutes on 2 cores (measured: 556 s at
# nice 19 next to other work, 470 CPU-seconds, 1.7 GB peak RSS); warm it takes
# well under a second. Concurrent runs are serialised with a lock file.
#
# Usage: tools/kube/build.sh [--force]       prints the binary folder as its last line
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0
[[ "${1:-}" == "--force" ]] && force=1

die() { echo "tools/kube/build.sh: ERROR: $*" >&2; exit 1; }
log() { echo "[kube-build] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# --- versions come from go.mod, the single source of truth -------------------------
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
[[ -n "$k8s_version" ]] || die "cannot read the k8s.io/kubernetes version from $here/go.mod"
[[ -n "$etcd_version" ]] || die "cannot read the go.etcd.io/etcd/server/v3 version from $here/go.mod"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"

cache_root="${SSO_KUBE_CACHE:-$HOME/.cache/sso-operator/kube}"
out="$cache_root/$k8s_version"
apiserver="$out/kube-apiserver"
etcd="$out/etcd"

binaries_ok() {
  [[ -x "$apiserver" && -x "$etcd" ]] || return 1
  "$apiserver" --version 2>/dev/null | grep -qF "Kubernetes $k8s_version" || return 1
  "$etcd" --version 2>/dev/null | grep -qF "etcd Version: ${etcd_version#v}" || return 1
}

t_all="$(now)"
if [[ $force == 0 ]] && binaries_ok; then
  log "up to date: kube-apiserver $k8s_version, etcd $etcd_version in $out (checked in $(since "$t_all"))"
  echo "$out"
  exit 0
fi

mkdir -p "$out" || die "cannot create $out"
exec 9>"$out/.build.lock"
if ! flock -n 9; then
  log "another build holds $out/.build.lock; waiting for it"
  flock 9
  if [[ $force == 0 ]] && binaries_ok; then
    log "built by the other run: $out"
    echo "$out"
    exit 0
  fi
fi

# --- Go toolchain ---------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
  [[ -x /usr/local/go/bin/go ]] && export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || die "no Go toolchain: install Go >= 1.24 (looked in PATH and /usr/local/go/bin)"
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
[[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge 24 ]] || die "Go $(go env GOVERSION) is too old; kube-apiserver $k8s_version needs Go >= 1.24"

export CGO_ENABLED=0
export GOTOOLCHAIN=local                   # never fetch a toolchain
export GOFLAGS="-mod=readonly -buildvcs=false"   # go.sum is committed and complete
niceness=(nice -n "${SSO_KUBE_NICE:-19}")

log "building kube-apiserver $k8s_version and etcd $etcd_version with $(go env GOVERSION) into $out"
log "module cache: $(go env GOMODCACHE); build cache: $(go env GOCACHE)"
cd "$here"

t="$(now)"
# go list loads every package of both binaries, so this fetches exactly the module
# zips the build needs (a plain `go mod download` only fetches the graph's go.mod files).
if ! "${niceness[@]}" go list -deps k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3 >/dev/null; then
  die "downloading the Go modules failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
fi
log "phase modules: $(since "$t")"

ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$k8s_minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

t="$(now)"
"${niceness[@]}" go build -trimpath -ldflags "$ldflags" -o "$apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver \
  || die "go build k8s.io/kubernetes/cmd/kube-apiserver failed"
mv -f "$apiserver.tmp" "$apiserver"
log "phase kube-apiserver: $(since "$t")"

t="$(now)"
"${niceness[@]}" go build -trimpath -ldflags "-s -w" -o "$etcd.tmp" go.etcd.io/etcd/server/v3 \
  || die "go build go.etcd.io/etcd/server/v3 (etcd) failed"
mv -f "$etcd.tmp" "$etcd"
log "phase etcd: $(since "$t")"

binaries_ok || die "the built binaries do not report the pinned versions: $("$apiserver" --version 2>&1 | head -1) / $("$etcd" --version 2>&1 | head -1)"
log "done in $(since "$t_all"): $("$apiserver" --version), etcd $etcd_version"
echo "$out"
