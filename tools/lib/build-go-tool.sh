# Shared steps of tools/<name>/build.sh, which build pinned Go binaries into a cache
# folder outside the repo: skip when already built, a lock file against concurrent
# runs, the Go toolchain check, the module download and one phase per binary, each
# timed. Sourced, not run. The script sets `here` (its folder, holding go.mod), then:
#
#   go_tool_init NAME "$@"      # die/log prefixes, --force; then the script sets
#                                 out (cache folder) and niceness (nice -n ...)
#   exit_if_built CHECK WHAT RESULT
#   use_go MIN_MINOR WHAT
#   start_build WHAT PKG...
#   build_binary BIN LDFLAGS PKG
#
# Globals it sets: force, t_all (start time, for the script's "done in"), t.

go_tool_init() {
  local name="$1"
  _go_tool_script="tools/$name/build.sh"
  _go_tool_tag="[$name-build]"
  force=0
  if [[ "${2:-}" == "--force" ]]; then force=1; fi
}

die() { echo "$_go_tool_script: ERROR: $*" >&2; exit 1; }
log() { echo "$_go_tool_tag $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# Unless --force: when CHECK passes, says WHAT is up to date in $out, prints RESULT and
# exits. Otherwise takes $out/.build.lock (waiting for another build, then checking again).
exit_if_built() {
  local check="$1" what="$2" result="$3"
  t_all="$(now)"
  if [[ $force == 0 ]] && "$check"; then
    log "up to date: $what in $out (checked in $(since "$t_all"))"
    echo "$result"
    exit 0
  fi

  mkdir -p "$out" || die "cannot create $out"
  exec 9>"$out/.build.lock"
  if ! flock -n 9; then
    log "another build holds $out/.build.lock; waiting for it"
    flock 9
    if [[ $force == 0 ]] && "$check"; then
      log "built by the other run: $result"
      echo "$result"
      exit 0
    fi
  fi
}

# Finds a Go toolchain >= 1.MIN_MINOR (WHAT names what needs it) and pins the build
# settings.
use_go() {
  local min="$1" what="$2"
  if ! command -v go >/dev/null 2>&1; then
    [[ -x /usr/local/go/bin/go ]] && export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null 2>&1 || die "no Go toolchain: install Go >= 1.$min (looked in PATH and /usr/local/go/bin)"
  local go_minor
  go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
  [[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge $min ]] || die "Go $(go env GOVERSION) is too old; $what needs Go >= 1.$min"

  export CGO_ENABLED=0
  export GOTOOLCHAIN=local                   # never fetch a toolchain
  export GOFLAGS="-mod=readonly -buildvcs=false"   # go.sum is committed and complete
}

# Says that WHAT is being built, enters $here and downloads what PKG... need.
start_build() {
  local what="$1"
  shift
  log "building $what with $(go env GOVERSION) into $out"
  log "module cache: $(go env GOMODCACHE); build cache: $(go env GOCACHE)"
  cd "$here"

  t="$(now)"
  # go list loads every package of the binaries, so this fetches exactly the module zips
  # the build needs (a plain `go mod download` only fetches the graph's go.mod files).
  if ! "${niceness[@]}" go list -deps "$@" >/dev/null; then
    die "downloading the Go modules failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  fi
  log "phase modules: $(since "$t")"
}

# Builds PKG into BIN (through BIN.tmp, so a failed build leaves no binary): the phase
# named after BIN.
build_binary() {
  local bin="$1" ldflags="$2" pkg="$3"
  local name="${bin##*/}" label="$pkg"
  [[ "${pkg##*/}" == "$name" ]] || label+=" ($name)"
  t="$(now)"
  "${niceness[@]}" go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" "$pkg" \
    || die "go build $label failed"
  mv -f "$bin.tmp" "$bin"
  log "phase $name: $(since "$t")"
}
