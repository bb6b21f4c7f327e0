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
# shellcheck source=../lib/build-go-tool.sh
source "$here/../lib/build-go-tool.sh"
go_tool_init kube "$@"

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
niceness=(nice -n "${SSO_KUBE_NICE:-19}")

binaries_ok() {
  [[ -x "$apiserver" && -x "$etcd" ]] || return 1
  # Capture first: `cmd | grep -q` under pipefail fails when grep exits early
  # and the command dies writing to the closed pipe (seen under load).
  local ver
  ver=$("$apiserver" --version 2>/dev/null) || return 1
  [[ $ver == *"Kubernetes $k8s_version"* ]] || return 1
  ver=$("$etcd" --version 2>/dev/null) || return 1
  [[ $ver == *"etcd Version: ${etcd_version#v}"* ]] || return 1
}

exit_if_built binaries_ok "kube-apiserver $k8s_version, etcd $etcd_version" "$out"
use_go 24 "kube-apiserver $k8s_version"
start_build "kube-apiserver $k8s_version and etcd $etcd_version" \
  k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3

ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$k8s_minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
build_binary "$apiserver" "$ldflags" k8s.io/kubernetes/cmd/kube-apiserver
build_binary "$etcd" "-s -w" go.etcd.io/etcd/server/v3

binaries_ok || die "the built binaries do not report the pinned versions: $("$apiserver" --version 2>&1 | head -1) / $("$etcd" --version 2>&1 | head -1)"
log "done in $(since "$t_all"): $("$apiserver" --version), etcd $etcd_version"
echo "$out"
