#!/usr/bin/env bash
# Prepares the benchmark peers that do not run in Node (test/bench, and the peer test
# test/integration/saml-peers.test.ts):
#
# - saml-go: tools/peers/saml-go (github.com/crewjam/saml and
#   github.com/russellhaering/gosaml2, pinned in its go.mod), built into a cache folder
#   outside the repo, named after a hash of its sources:
#     ${SSO_PEERS_CACHE:-$HOME/.cache/sso-operator/peers}/<hash>/saml-go
# - python3-saml: Debian's python3-onelogin-saml2, installed with apt-get when missing
#   (root needed then); tools/peers/saml-python/validate.py runs it under /usr/bin/python3.
#
# Idempotent: when the package is installed and the binary of these sources exists it
# does nothing (about 0.5 s, mostly the Python import check). A cold build (empty Go
# module and build caches) downloads the modules through the Go module proxy (~2 s) and
# compiles the standard library and both libraries (measured with Go 1.26.8: 56
# CPU-seconds, 180 s wall at nice 10 on 2 busy cores); the apt-get install takes about
# 20 s. Concurrent runs are serialised with lock files.
#
# Usage: tools/peers/build.sh [--force] [go|python]
#   go:     only saml-go; prints its binary path as the last line
#   python: only python3-saml; prints the interpreter to run validate.py with
#   (both, the default: python3-saml first, then saml-go, printing the binary path)
set -euo pipefail

peers="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/build-go-tool.sh
source "$peers/../lib/build-go-tool.sh"
force_arg=()
part=both
for arg in "$@"; do
  case "$arg" in
    --force) force_arg=(--force) ;;
    go | python) part="$arg" ;;
    *) echo "usage: tools/peers/build.sh [--force] [go|python]" >&2; exit 2 ;;
  esac
done
go_tool_init peers "${force_arg[@]}"

# --- python3-saml --------------------------------------------------------------------
python_pkg=python3-onelogin-saml2

ensure_python_saml() {
  if [[ "$(dpkg-query -W -f='${Status}' "$python_pkg" 2>/dev/null || true)" != *"ok installed" ]]; then
    command -v apt-get >/dev/null 2>&1 || die "$python_pkg is missing and there is no apt-get to install it"
    [[ "$(id -u)" == 0 ]] || die "$python_pkg is missing; installing it needs root: sudo apt-get install -y --no-install-recommends $python_pkg"
    t="$(now)"
    log "installing $python_pkg with apt-get"
    # The same lock as the test set-up (test/support/system-deps.ts): one apt-get at a time.
    apt() { flock -w 900 /var/lock/sso-operator-tests-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
    if ! apt install -y --no-install-recommends "$python_pkg" >&2; then
      log "apt-get install failed; running apt-get update once and retrying"
      apt update >&2 || die "apt-get update failed"
      apt install -y --no-install-recommends "$python_pkg" >&2 || die "apt-get install $python_pkg failed"
    fi
    log "phase $python_pkg: $(since "$t")"
  fi
  /usr/bin/python3 -c 'import onelogin.saml2.response' 2>/dev/null \
    || die "$python_pkg is installed but /usr/bin/python3 cannot import onelogin.saml2"
}

if [[ $part != go ]]; then ensure_python_saml; fi
if [[ $part == python ]]; then
  echo /usr/bin/python3
  exit 0
fi

# --- saml-go -------------------------------------------------------------------------
here="$peers/saml-go"
source_hash="$(cat "$here/go.mod" "$here/go.sum" "$here"/*.go | sha256sum | cut -c1-16)"
out="${SSO_PEERS_CACHE:-$HOME/.cache/sso-operator/peers}/$source_hash"
bin="$out/saml-go"
niceness=(nice -n "${SSO_PEERS_NICE:-10}")

binary_ok() { [[ -x "$bin" ]]; }

exit_if_built binary_ok "saml-go ($source_hash)" "$bin"
go_minor_needed="$(awk '$1 == "go" { split($2, v, "."); print v[2]; exit }' "$here/go.mod")"
use_go "$go_minor_needed" "saml-go"
start_build "saml-go (crewjam/saml, gosaml2)" .
build_binary "$bin" "-s -w" .
log "done in $(since "$t_all")"
echo "$bin"
