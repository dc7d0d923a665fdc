# go_env.sh: sourced by the Go tests. Finds go, points cgo at the build tree's librthub.a and
# keeps Go offline and its cache in the build tree. Fails (exit 1, naming golang-go) without go.
#   $1 source dir, $2 build dir, $3 lib dir (librthub.a), $4 sanitizers of the build ("" if none)
src=$1 build=$2 libdir=$3 sanitize=${4:-}
if ! command -v go >/dev/null 2>&1; then
  # tests/run.sh installs go (.ci/debian-packages): its absence is a failure, never a skip.
  echo "FAILED: 'go' is not installed (Debian package: golang-go); the Go binding was not tested" >&2
  exit 1
fi
export CGO_ENABLED=1
# Env flags come before the package's #cgo flags: this -L wins over ../../build/lib.
export CGO_LDFLAGS="-L$libdir ${CGO_LDFLAGS_EXTRA:-}"
export GOFLAGS="-buildvcs=false ${GOFLAGS:-}"
export GOPROXY=off GOTOOLCHAIN=local
export GOCACHE=${GOCACHE:-$build/go-cache}
export GOPATH=${GOPATH:-$build/go-path}
go_race=-race go_sanitize=
if [[ -n "$sanitize" ]]; then
  # librthub.a is instrumented: the program must link the sanitizer runtimes. Go's -race (TSan)
  # cannot share a process with ASan, so an ASan build is tested with go's -asan instead.
  export CGO_LDFLAGS="$CGO_LDFLAGS -fsanitize=$sanitize"
  export CGO_CFLAGS="-fsanitize=$sanitize ${CGO_CFLAGS:-}"
  if [[ "$sanitize" == *address* ]]; then go_race=-asan go_sanitize=-asan; else go_race=; fi
fi
echo "$(go version); CGO_LDFLAGS=$CGO_LDFLAGS; GOCACHE=$GOCACHE"
